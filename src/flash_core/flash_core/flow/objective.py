"""The training objective: conditional flow matching, plus an optional penetration penalty.

For a batch of grasps x_1 with their conditioning, x_0 is drawn from the initial-state distribution
(`initial_state.py`) and t ~ U[0, 1] unless the batch supplies them (x_0 optionally re-paired with the grasps by
minibatch optimal transport, `ObjectiveConfig.coupling`), x_t lies on the model's path (`path.py`; the
paper's straight line x_0 + t (x_1 - x_0) by default), and the network's velocity is regressed onto the path's
(paper Eq. 1; `FlashModel.forward` computes the MSE in normalised units).
A batch holds few distinct objects: it carries each distinct cloud once with the cloud index of every row.
The optimiser step around this loss lives with the trainer (`flash_training.train`).

Penetration penalty (weight `penetration_weight`, off by default as in the paper's final objective): the one-step
estimate of the grasp (`FlowPath.endpoint`; x_t + (1 - t) v on the straight path) is turned into the hand's surface
cloud and each point's depth inside the object, relu(-sdf) (`flash_core.geometry.penetration`), is averaged. Each row
brings the signed distance of its own object (negative inside), e.g. `flash_core.geometry.sdf.MeshSDF` or
`flash_core.geometry.sdf_grid.SDFGrid` of the object mesh, expressed in the same object-centred frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.geometry.penetration import SignedDistanceField, penetration
from flash_core.model.pointnet2 import PointNetGrouping

ObjectSDF = SignedDistanceField  # points (1, M, 3) -> signed distance (1, M), negative inside


@dataclass
class FlowBatch:
    prompts: list[str]  # B prompts
    object_points: torch.Tensor  # (U, N, 3) the distinct object clouds, object-centred
    grasps: torch.Tensor  # (B, 25) x_1 in the same frame
    object_features: torch.Tensor | None = None  # (U, N, F) semantic features
    initial: torch.Tensor | None = None  # (B, 25) x_0; drawn from the sampler when None
    object_sdfs: Sequence[ObjectSDF] | None = None  # one per row; needed when penetration_weight > 0
    object_index: torch.Tensor | None = None  # (B,) int64 cloud of each row; None: U = B, row i has cloud i
    object_grouping: PointNetGrouping | None = None  # the clouds' PointNet++ grouping when known (a cache)
    object_normals: torch.Tensor | None = None  # (U, N, 3) the clouds' estimated normals when known (a cache)
    times: torch.Tensor | None = None  # (B,) t; drawn from U[0, 1] when None


@dataclass
class ObjectiveConfig:
    penetration_weight: float = 0.0
    # How x_0 is paired with the batch's grasps: "independent" (the paper's), or "minibatch_ot": the batch's x_0
    # are permuted to the assignment with the least total squared distance (in the network's normalised units) to
    # the grasps (Tong et al. 2024, OT-CFM). x_0's distribution is unchanged (a permutation, and x_0 does not depend
    # on the object), so sampling is too; paths cross less, so a state late in the flow leaves less doubt about
    # which grasp it is heading for. Validation losses of the two are not comparable.
    coupling: str = "independent"

    def __post_init__(self) -> None:
        if self.penetration_weight < 0:
            raise ValueError(f"penetration_weight must be >= 0, got {self.penetration_weight}")
        if self.coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {self.coupling!r}; choose one of {COUPLINGS}")


COUPLINGS = ("independent", "minibatch_ot")


def ot_pairing(x_0: torch.Tensor, x_1: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Row order of x_0 (B, D) that pairs row i of x_1 (B, D) with x_0[order[i]] at the least total squared distance
    of (x_0 - x_1) / scale (D,): an exact assignment (scipy's Hungarian solver, ~1 ms for B = 32)."""
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist((x_1 / scale).detach().double().cpu(), (x_0 / scale).detach().double().cpu()).square()
    rows, columns = linear_sum_assignment(cost.numpy())
    return torch.as_tensor(columns[rows.argsort()], device=x_0.device)


def flow_matching_loss(model, batch: FlowBatch, sampler: InitialStateSampler, config: ObjectiveConfig | None = None,
                       generator: torch.Generator | None = None, *, forward: Callable | None = None
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its parts ({"cfm", "penetration"?}) for one batch.

    forward: what runs `model`'s forward, when that is not `model` itself: its DistributedDataParallel wrapper,
    which must be the one called for the gradients to be averaged across processes.
    """
    config = config or ObjectiveConfig()
    x_1 = batch.grasps
    if x_1.dim() != 2 or x_1.shape[0] != len(batch.prompts):
        raise ValueError(f"grasps must be ({len(batch.prompts)}, D), got {tuple(x_1.shape)}")
    x_0 = batch.initial
    if x_0 is None:
        x_0 = sampler.sample(x_1.shape[0], generator=generator, device=x_1.device, dtype=x_1.dtype)
    if config.coupling == "minibatch_ot":
        x_0 = x_0[ot_pairing(x_0, x_1, model.state_scale)]
    t = batch.times
    if t is None:
        t = torch.rand(x_1.shape[0], generator=generator, dtype=x_1.dtype).to(x_1.device)
    path = model.config.path.sample(x_0, x_1, t)
    velocity, losses = (forward or model)(path.x_t, path.t, batch.prompts, batch.object_points, batch.object_features,
                             target_velocity=path.dx_t, object_index=batch.object_index,
                             object_grouping=batch.object_grouping, object_normals=batch.object_normals)
    total = losses["cfm"]
    if config.penetration_weight > 0:
        grasp_estimate = model.config.path.endpoint(path.x_t, velocity, t)
        losses["penetration"] = penetration_depth(model.hand_cloud_fn, grasp_estimate, batch.object_sdfs)
        total = total + config.penetration_weight * losses["penetration"]
    return total, losses


def penetration_depth(hand_cloud_fn, x: torch.Tensor, object_sdfs: Sequence[ObjectSDF] | None) -> torch.Tensor:
    """Mean depth (m) of the hand's surface points inside their objects; differentiable w.r.t. x (B, 25)."""
    if hand_cloud_fn is None:
        raise ValueError("the penetration penalty needs the model's hand_cloud_fn")
    if object_sdfs is None or len(object_sdfs) != x.shape[0]:
        raise ValueError(f"the penetration penalty needs one object SDF per row ({x.shape[0]}), got "
                         f"{None if object_sdfs is None else len(object_sdfs)}")
    points = hand_cloud_fn(x)  # (B, M, 3)
    depths = [penetration(points[i : i + 1], sdf).depth_m for i, sdf in enumerate(object_sdfs)]  # each (1, M)
    return torch.cat(depths).mean()
