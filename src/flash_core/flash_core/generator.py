"""`GraspGenerator`: the ROS-free facade that turns (prompt, object cloud) into ranked dexterous grasps.

Load once (`GraspGenerator.from_checkpoint(path)`; no path: the packaged default model,
`flash_core/model/default/`), then `generate(prompt, object_points, num_grasps=K)`:
1. check the inputs; thin the cloud to the model's N points by farthest point sampling (a smaller cloud repeats
   its points); centre it on its centroid
   (the frame the network works in);
2. encode the goal once (prompt + object) and draw K initial hands around the object (`flow.initial_state`);
3. integrate the velocity field from t = 0 to 1 for all K at once (`flow.solver`), the live hand cloud recomputed
   at every evaluation; a cancel callback can stop between evaluations;
4. optionally (`polish=True`) a few gradient steps against the object cloud's surface (`flash_core.model.polish`:
   less penetration, fingers onto the surface, the grasp kept near the network's);
5. re-orthonormalise the wrist rotation (Gram-Schmidt), clamp joints to their limits, move back to the input frame;
6. rank (below) and return `Grasp`s, best first.

Ranking, from the object cloud alone (no mesh is needed at run time):
- contact_distance_m: for each finger, the distance from its nearest contact candidate (fingertip/pad points of the
  hand model) to the object cloud, averaged over fingers;
- penetration_m: the deepest hand surface point behind the object's surface, measured along the normal of its
  nearest object point (`CloudSDF` with one neighbour; object normals when given, else estimated from the cloud);
- required_friction: the least friction coefficient with which the hand's links touching the cloud (their collision
  surface within FRICTION_CONTACT_M) resist a push along each of +-x, +-y, +-z at the cloud's centroid
  (`flash_core.geometry.force_closure`, the object's normals at the contacts taken from the cloud): how the data
  builder picks the candidate it keeps, the analytic counterpart of the force-closure test; +inf when no friction
  up to 1 suffices;
- score = -(contact_distance_m + PENETRATION_WEIGHT * penetration_m + NO_OPPOSITION_PENALTY * [no opposition]
  + FRICTION_WEIGHT * min(required_friction, 1)): higher is better; a grasp has opposition when the thumb and at
  least two other fingers are in contact (below), as the data synthesis requires of the grasps it keeps (a grasp
  without the thumb pushes the object away);
- contact_fingers: fingers with a contact candidate within CONTACT_THRESHOLD_M of the cloud.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from flash_core.flow.initial_state import InitialStateConfig, InitialStateSampler
from flash_core.flow.solver import ODESolver, SolverConfig
from flash_core.geometry.cloud_sdf import CloudSDF, estimate_normals
from flash_core.geometry.force_closure import required_friction
from flash_core.geometry.neighbors import knn
from flash_core.geometry.rotations import matrix_to_quaternion, matrix_to_rot6d, rot6d_to_matrix
from flash_core.geometry.sampling import farthest_point_sample
from flash_core.geometry.support_plane import SupportPlane
from flash_core.hands.link_surface import link_surface, per_link_argmin
from flash_core.model.polish import PolishConfig, cloud_sdf, polish_grasps
from flash_core.model.settle import SettleConfig, settle_grasps
from flash_core.model.settle import cloud_sdf as settle_sdf

PENETRATION_WEIGHT = 5.0
CONTACT_THRESHOLD_M = 0.005
# Any grasp with opposition ranks above every grasp without (contact distances and depths are centimetres at most).
NO_OPPOSITION_PENALTY = 1.0
OPPOSING_FINGER, MIN_CONTACT_FINGERS = "thumb", 3
# Hand points farther than this from the cloud cannot be inside the object; skipping them keeps a far-away point
# from being judged "behind" a surface it is nowhere near.
PENETRATION_SEARCH_M = 0.03
# Links this close to the cloud touch, for the friction a grasp needs (the data builder's threshold).
FRICTION_CONTACT_M = 0.0035
FRICTION_WEIGHT = 0.05  # per unit of friction coefficient, capped at 1 (+inf: cannot hold)
FRICTION_SURFACE_POINTS = SettleConfig.surface_points  # settling's samples of the collision surface: built once
# The default model ships as package data: flash_core/model/default/ holding a checkpoint folder's files
# (flash_config.json, model.safetensors, tokenizer.json for a scratch text model).
DEFAULT_MODEL_PACKAGE, DEFAULT_MODEL_FOLDER = "flash_core.model", "default"


def default_checkpoint() -> Path | None:
    """The packaged default model's folder, or None while none ships with this installation."""
    from flash_core.model.checkpoint import CONFIG_FILE

    folder = Path(str(files(DEFAULT_MODEL_PACKAGE).joinpath(DEFAULT_MODEL_FOLDER)))
    return folder if (folder / CONFIG_FILE).is_file() else None


@dataclass
class Grasp:
    translation_m: np.ndarray  # (3,) wrist (hand root frame) position in the input cloud's frame
    rot6d: np.ndarray  # (6,) first two columns of the wrist rotation
    matrix: np.ndarray  # (4, 4) wrist pose T_object_wrist
    quaternion_wxyz: np.ndarray  # (4,)
    joint_positions: np.ndarray  # (J,) rad, in `joint_names` order
    joint_names: list[str]
    score: float  # higher is better (see the module docstring)
    contact_distance_m: float
    penetration_m: float
    contact_fingers: list[str] = field(default_factory=list)
    required_friction: float = float("inf")  # see the module docstring

    @property
    def vector(self) -> np.ndarray:
        """The 25-D hand parameter x = [translation, rot6d, joints]."""
        return np.concatenate((self.translation_m, self.rot6d, self.joint_positions))


@dataclass
class GoalBatch:
    """Preprocessed goals: clouds centred on their centroids and thinned to the model's point count."""

    prompts: list[str]
    points: torch.Tensor  # (G, N, 3) centred
    centres: torch.Tensor  # (G, 3) centroid of each input cloud
    normals: torch.Tensor | None  # (G, N, 3)
    features: torch.Tensor | None  # (G, N, F)


def model_cloud_index(cloud: torch.Tensor, num_points: int) -> torch.Tensor:
    """Which points of a cloud (P, 3) the network sees: (num_points,) int64 indices, by farthest point sampling,
    or every point repeated in turn when P < num_points (repeats change nothing for max-pooled PointNet++
    features). Training prepares its clouds the same way (then centres them on the input cloud's centroid)."""
    if cloud.shape[0] >= num_points:
        return farthest_point_sample(cloud[None], num_points)[0]
    return torch.arange(num_points, device=cloud.device) % cloud.shape[0]


class GraspGenerator:
    def __init__(self, model, hand, solver: SolverConfig | None = None,
                 initial_state: InitialStateConfig | None = None, polish: PolishConfig | None = None,
                 settle: SettleConfig | None = None):
        if model.config.hand != hand.name:
            raise ValueError(f"model is for hand {model.config.hand!r}, got hand {hand.name!r}")
        self.model = model.eval()
        self.hand = hand
        self.solver = solver or SolverConfig()
        self.initial_states = InitialStateSampler.from_hand(hand, initial_state)
        self.polish = polish or PolishConfig()
        self.settle = settle or SettleConfig()

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: torch.device | str = "cpu", hand=None,
                        solver: SolverConfig | None = None) -> GraspGenerator:
        """Load a checkpoint folder (None: the packaged default model); the hand is built from the name it
        records unless one is given. Sampling starts from the initial-state distribution the checkpoint records."""
        from flash_core.hands import make_hand
        from flash_core.model.checkpoint import initial_state_of, load_checkpoint, read_checkpoint_meta

        if path is None:
            path = default_checkpoint()
            if path is None:
                raise FileNotFoundError(
                    f"no default FLASH model ships with this installation yet ({DEFAULT_MODEL_PACKAGE}/"
                    f"{DEFAULT_MODEL_FOLDER} holds none): pass the model folder of a `flash train` run")
        meta = read_checkpoint_meta(path)
        if hand is None:
            hand = make_hand(meta["hand"]["name"], device=device)
        return cls(load_checkpoint(path, hand.to(device), device), hand.to(device), solver, initial_state_of(meta))

    @property
    def device(self) -> torch.device:
        return self.model.state_scale.device

    # ------------------------------------------------------------------------------------------------------------

    def prepare_goals(self, prompts: list[str], clouds: list, normals: list | None = None,
                      features: list | None = None) -> GoalBatch:
        """Check and preprocess G goals: prompts (G,), clouds G x (N_i, 3) [+ normals (N_i, 3), features (N_i, F)]."""
        if len(prompts) != len(clouds):
            raise ValueError(f"{len(prompts)} prompts for {len(clouds)} object clouds")
        for prompt in prompts:
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"the prompt must be a non-empty string, got {prompt!r}")
        count = self.model.config.object.num_points
        points, kept_normals, kept_features, centres = [], [], [], []
        for i, cloud in enumerate(clouds):
            cloud = torch.as_tensor(np.asarray(cloud), dtype=torch.float32, device=self.device)
            if cloud.ndim != 2 or cloud.shape[-1] != 3:
                raise ValueError(f"object cloud {i} must be (N, 3), got {tuple(cloud.shape)}")
            if cloud.shape[0] == 0:
                raise ValueError(f"object cloud {i} is empty")
            if not torch.isfinite(cloud).all():
                raise ValueError(f"object cloud {i} contains NaN or inf")
            index = model_cloud_index(cloud, count)  # (N,)
            centre = cloud.mean(0)
            centres.append(centre)
            points.append(cloud[index] - centre)
            if normals is not None:
                kept_normals.append(torch.as_tensor(np.asarray(normals[i]), dtype=torch.float32,
                                                    device=self.device)[index])
            if features is not None:
                kept_features.append(torch.as_tensor(np.asarray(features[i]), dtype=torch.float32,
                                                     device=self.device)[index])
        if self.model.config.use_semantics and features is None:
            raise ValueError("this model uses per-point semantic features: pass object_features")
        return GoalBatch(list(prompts), torch.stack(points), torch.stack(centres),
                         torch.stack(kept_normals) if normals is not None else None,
                         torch.stack(kept_features) if features is not None else None)

    @torch.no_grad()
    def sample(self, goals: GoalBatch, num_grasps: int, *, seed: int | None = None,
               solver: SolverConfig | None = None, should_continue: Callable[[float, int], bool] | None = None,
               on_progress: Callable[[float, int], None] | None = None, cached: bool = True,
               initial: torch.Tensor | None = None, support_normal: torch.Tensor | None = None):
        """Integrate K grasps per goal. Returns (x (G, K, 25) in the centred frame, NFE).

        initial (G * K, 25): start states in the centred frame; drawn from the initial-state distribution if None
        (only above the support plane whose upward normal (3,) is `support_normal`, when given).
        cached=False re-encodes the whole conditioning for every row at every evaluation (the reference the cached
        path must equal; used by tests and the benchmark).
        """
        if num_grasps < 1:
            raise ValueError(f"num_grasps must be >= 1, got {num_grasps}")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        num_goals = len(goals.prompts)
        if initial is None:
            x_init = self.initial_states.sample(num_goals * num_grasps, generator=generator, device=self.device,
                                                support_normal=support_normal)
        elif initial.shape != (num_goals * num_grasps, self.model.config.state_dim):
            raise ValueError(f"initial must be ({num_goals * num_grasps}, {self.model.config.state_dim}), "
                             f"got {tuple(initial.shape)}")
        else:
            x_init = initial.to(self.device)
        if cached:
            context = self.model.encode_goal(goals.prompts, goals.points, goals.features).repeat_interleave(num_grasps)

            def velocity(x, t):
                return self.model.velocity(x, t, context)
        else:
            prompts = [p for p in goals.prompts for _ in range(num_grasps)]
            points = goals.points.repeat_interleave(num_grasps, 0)
            features = None if goals.features is None else goals.features.repeat_interleave(num_grasps, 0)

            def velocity(x, t):
                return self.model(x, t.expand(x.shape[0]), prompts, points, features)[0]

        result = ODESolver(velocity).sample(x_init, solver or self.solver, should_continue=should_continue,
                                            on_progress=on_progress)
        return result.x_1.reshape(num_goals, num_grasps, -1), result.nfe

    def generate(self, prompt: str, object_points, *, hand: str | None = None, num_grasps: int = 16,
                 seed: int | None = None, object_normals=None, object_features=None, method: str | None = None,
                 steps: int | None = None, should_continue: Callable[[float, int], bool] | None = None,
                 on_progress: Callable[[float, int], None] | None = None, polish: bool = False,
                 settle: bool = False, support_plane: SupportPlane | None = None) -> list[Grasp]:
        """K grasps for one goal, best first. object_points (N, 3) in any frame; grasps come back in that frame.
        polish: a few gradient steps against the cloud after the flow (`self.polish` configures them).
        settle: then the open hand slides along its approach onto the cloud's surface and the fingers close until
        they touch it (`flash_core.model.settle`; `self.settle` configures it).
        support_plane: the table the object rests on, in the cloud's frame (e.g. `SupportPlane.from_pose` of
        flash_perception's table_plane):
        the flow starts only above it, settling keeps the hand off it, and grasps through it rank last."""
        if hand is not None and hand != self.hand.name:
            raise ValueError(f"this generator's model is for hand {self.hand.name!r}, not {hand!r}")
        solver = SolverConfig(method=method or self.solver.method, steps=steps or self.solver.steps,
                              atol=self.solver.atol, rtol=self.solver.rtol)
        goals = self.prepare_goals([prompt], [object_points],
                                   None if object_normals is None else [object_normals],
                                   None if object_features is None else [object_features])
        support = None if support_plane is None else support_plane.shifted(goals.centres[0].cpu())  # centred frame
        x, _ = self.sample(goals, num_grasps, seed=seed, solver=solver, should_continue=should_continue,
                           on_progress=on_progress, support_normal=None if support is None else support.normal)
        points = goals.points[0]
        normals = estimate_normals(points) if goals.normals is None else goals.normals[0]
        x = x[0]
        if polish:
            x = polish_grasps(self.hand, x.to(self.hand.dtype), cloud_sdf(points, normals, self.polish), self.polish)
        if settle:
            x = settle_grasps(self.hand, x.to(self.hand.dtype), settle_sdf(points, normals, self.settle), self.settle,
                              support).x
        return self._rank(x, points, goals.centres[0], normals, support)

    # ------------------------------------------------------------------------------------------------------------

    def _rank(self, x: torch.Tensor, points: torch.Tensor, centre: torch.Tensor,
              normals: torch.Tensor | None, support: SupportPlane | None = None) -> list[Grasp]:
        """x (K, 25) centred grasps, points (N, 3) centred cloud (normals (N, 3) or None: estimated), the support
        plane in the centred frame or None -> ranked Grasps in the input frame. A grasp's penetration is the
        deeper of the object's cloud and the support's."""
        rotation = rot6d_to_matrix(x[:, 3:9])  # Gram-Schmidt: a valid rotation whatever the solver left
        joints = self.hand.clamp_joints(x[:, 9:])
        x = torch.cat((x[:, :3], matrix_to_rot6d(rotation), joints), dim=-1)
        if normals is None:
            normals = estimate_normals(points)
        contact_distance, fingers = self._contact_distance(x, points)
        surface = self.hand.surface_points(x)  # (K, M, 3)
        sdf = ranking_sdf(points, normals)  # one surface (and one k-d tree) for penetration and friction
        penetration = torch.relu(-sdf.bounded(surface)).amax(-1)  # exact where negative: only points near are searched
        if support is not None:
            penetration = torch.maximum(penetration, torch.relu(-support.height_m(surface)).amax(-1))
        opposed = torch.tensor([OPPOSING_FINGER in f and len(f) >= MIN_CONTACT_FINGERS for f in fingers],
                               device=x.device)
        friction = torch.as_tensor(required_friction_on_cloud(self.hand, x, sdf), dtype=x.dtype, device=x.device)
        score = -(contact_distance + PENETRATION_WEIGHT * penetration + NO_OPPOSITION_PENALTY * ~opposed
                  + FRICTION_WEIGHT * friction.clamp(max=1.0))
        grasps = []
        for k in torch.argsort(score, descending=True).tolist():
            matrix = torch.eye(4)
            matrix[:3, :3] = rotation[k].cpu()
            matrix[:3, 3] = (x[k, :3] + centre).cpu()
            grasps.append(Grasp(
                translation_m=matrix[:3, 3].numpy().copy(), rot6d=x[k, 3:9].cpu().numpy(), matrix=matrix.numpy(),
                quaternion_wxyz=matrix_to_quaternion(rotation[k]).cpu().numpy(),
                joint_positions=joints[k].cpu().numpy(), joint_names=list(self.hand.joint_names),
                score=float(score[k]), contact_distance_m=float(contact_distance[k]),
                penetration_m=float(penetration[k]), contact_fingers=fingers[k],
                required_friction=float(friction[k])))
        return grasps

    def _contact_distance(self, x: torch.Tensor, points: torch.Tensor):
        candidates = self.hand.contact_candidates(x)  # (K, C, 3)
        nearest = knn(candidates.reshape(1, -1, 3), points[None], 1)  # one search (one tree) for all K grasps
        distance = nearest.dist_m[0, :, 0].reshape(candidates.shape[:2])  # (K, C)
        finger_index = self.hand.contact_finger_index  # (C,)
        names = self.hand.finger_names
        per_finger = torch.stack([distance[:, finger_index == f].amin(-1) for f in range(len(names))], -1)  # (K, F)
        touching = [[names[f] for f in range(len(names)) if per_finger[k, f] < CONTACT_THRESHOLD_M]
                    for k in range(x.shape[0])]
        return per_finger.mean(-1), touching


def ranking_sdf(points: torch.Tensor, normals: torch.Tensor) -> CloudSDF:
    """The surface the ranking measures against, from a centred cloud (N, 3) and its normals (N, 3): the sign from
    the nearest point's normal, searched only within PENETRATION_SEARCH_M."""
    return CloudSDF(points, normals, neighbors=1, max_distance_m=PENETRATION_SEARCH_M)


def required_friction_on_cloud(hand, x: torch.Tensor, sdf: CloudSDF) -> np.ndarray:
    """x (K, 25) grasps and `ranking_sdf` of a cloud centred on its centroid -> (K,) the friction each grasp needs
    (module docstring): each link's collision-surface point nearest the cloud's surface is that link's contact,
    touching within FRICTION_CONTACT_M; the pushes act at the cloud's centroid."""
    surface = link_surface(hand, FRICTION_SURFACE_POINTS).points
    samples = surface.move(hand.link_poses(x))  # (K, M, 3)
    distance = sdf.bounded(samples).abs()  # (K, M): a point in the object touches as well as one on it
    count = samples.shape[1]
    nearest, first = per_link_argmin(distance, surface.link_index, len(hand.link_names))  # (K, L) each
    contact = torch.gather(samples, 1, first.clamp(max=count - 1)[..., None].expand(-1, -1, 3))  # (K, L, 3)
    touching = (first < count) & (nearest < FRICTION_CONTACT_M)
    closest = knn(contact.reshape(1, -1, 3), sdf.points[None], 1).idx[0, :, 0]  # (K * L,)
    contact_normals = sdf.normals[closest].reshape(contact.shape)
    return required_friction(contact.double().cpu().numpy(), contact_normals.double().cpu().numpy(),
                             touching.cpu().numpy(), np.zeros(3))
