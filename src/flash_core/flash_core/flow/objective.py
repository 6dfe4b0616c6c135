"""The training objective: conditional flow matching, plus an optional penetration penalty.

For a batch of grasps x_1 with their conditioning, x_0 is drawn from the initial-state distribution
(`initial_state.py`) unless the data supplies it, t ~ U[0, 1], x_t = x_0 + t (x_1 - x_0), and the network's velocity
is regressed onto x_1 - x_0 (paper Eq. 1; `FlashModel.forward` computes the MSE in normalised units).

Penetration penalty (weight `penetration_weight`, off by default as in the paper's final objective): the one-step
estimate of the grasp x_0 + v is turned into the hand's surface cloud and each point's depth inside the object,
relu(-sdf) (`flash_core.geometry.penetration`), is averaged. Each row brings the signed distance of its own object
(negative inside), e.g. `flash_core.geometry.sdf.MeshSDF` or `flash_core.geometry.sdf_grid.SDFGrid` of the object
mesh, expressed in the same object-centred frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.flow.path import sample_linear_path
from flash_core.geometry.penetration import SignedDistanceField, penetration

ObjectSDF = SignedDistanceField  # points (1, M, 3) -> signed distance (1, M), negative inside


@dataclass
class FlowBatch:
    prompts: list[str]  # B prompts
    object_points: torch.Tensor  # (B, N, 3) object-centred
    grasps: torch.Tensor  # (B, 25) x_1 in the same frame
    object_features: torch.Tensor | None = None  # (B, N, F) semantic features
    initial: torch.Tensor | None = None  # (B, 25) x_0; drawn from the sampler when None
    object_sdfs: Sequence[ObjectSDF] | None = None  # one per row; needed when penetration_weight > 0


@dataclass
class ObjectiveConfig:
    penetration_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.penetration_weight < 0:
            raise ValueError(f"penetration_weight must be >= 0, got {self.penetration_weight}")


def flow_matching_loss(model, batch: FlowBatch, sampler: InitialStateSampler, config: ObjectiveConfig | None = None,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its parts ({"cfm", "penetration"?}) for one batch."""
    config = config or ObjectiveConfig()
    x_1 = batch.grasps
    if x_1.dim() != 2 or x_1.shape[0] != len(batch.prompts):
        raise ValueError(f"grasps must be ({len(batch.prompts)}, D), got {tuple(x_1.shape)}")
    x_0 = batch.initial
    if x_0 is None:
        x_0 = sampler.sample(x_1.shape[0], generator=generator, device=x_1.device, dtype=x_1.dtype)
    t = torch.rand(x_1.shape[0], generator=generator, dtype=x_1.dtype).to(x_1.device)
    path = sample_linear_path(x_0, x_1, t)
    velocity, losses = model(path.x_t, path.t, batch.prompts, batch.object_points, batch.object_features,
                             target_velocity=path.dx_t)
    total = losses["cfm"]
    if config.penetration_weight > 0:
        losses["penetration"] = penetration_depth(model.hand_cloud_fn, x_0 + velocity, batch.object_sdfs)
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


def train_step(model, optimizer: torch.optim.Optimizer, batch: FlowBatch, sampler: InitialStateSampler,
               config: ObjectiveConfig | None = None, generator: torch.Generator | None = None,
               max_grad_norm: float | None = 1.0) -> dict[str, float]:
    """One optimiser step on one batch; returns the loss parts as floats (for logging)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    total, losses = flow_matching_loss(model, batch, sampler, config, generator)
    total.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_grad_norm)
    optimizer.step()
    return {"loss": float(total.detach()), **{name: float(value.detach()) for name, value in losses.items()}}
