"""Grasp synthesis from scratch for objects without grasps: approach, close until contact, keep the best.

1. Initial pose (`initial_poses`): pick a target point on the object (optionally on one part, so that
   part-specific text such as "hold the handle" becomes true), tilt the approach a little away from its surface
   normal, face the palm down the approach and turn the hand about it so that its fingers curl across the
   object's local long axis (the principal axis of the surface points within `neighbourhood_m`, projected across
   the approach; either way round, with some noise): a hand curls around a handle, not along it. The centre
   of the palm's face (`palm_face`: the root link's collision face on the fingers' side), moved a random
   `aim_offset_m` towards the fingers, starts `gap_m` out from the target with the hand open.
2. Approach and close (`close_on_object`, GraspIt's approach-then-auto-grasp): the open hand moves down the
   approach until its collision geometry comes within `palm_margin_m` of the surface; then every joint closes
   along the hand's closing direction (pre-grasp minus open pose) in small steps, and a joint stops once a link
   it moves comes within `finger_margin_m` of the object or `self_margin_m` of another link of the hand (MuJoCo's
   collision detection on the official collision geometry), or reaches its limit. Proximal links stop first
   and the distal ones wrap on, so the grasp presses where simulated protocol (b)'s squeeze (joints further
   along the same direction) pushes.
3. Selection: `oversample` candidates per requested grasp; the one kept has at least three fingers, the thumb
   among them, within `contact_threshold_m` and needs the least friction to resist the six pushes of protocol (b)
   (`flash_core.geometry.force_closure.required_friction`, on the SDF grid); then the least penetration.
4. Optional polish (`optimizer.steps > 0`): the DexGraspNet-style energy of `refine.py`.

Measured on 10 objects x 2 hands (docs/benchmarks.md, "Grasps that hold"): the gradient-only synthesis this
replaces left fingers hovering millimetres off the surface, and 3 % (Allegro) to 22 % (LEAP) of its accepted
grasps held in protocol (b).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from flash_core.geometry.force_closure import required_friction
from flash_core.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix
from flash_core.geometry.sdf import MeshSDF
from flash_core.geometry.sdf_grid import SDFGrid
from flash_core.hands.collision import hand_collision
from flash_core.hands.hand_model import HandModel
from flash_core.hands.pose import join_pose
from flash_training.data.contacts import (
    centre_of_mass,
    contact_geometry,
    link_contacts,
    link_distances,
    self_contact_links,
)
from flash_training.data.refine import OptimizerConfig, optimize_grasps


@dataclass(frozen=True)
class ClosingConfig:
    """Approach until touching, then close every joint until the links it moves touch (see the module doc)."""

    approach_step_m: float = 0.002
    max_travel_m: float = 0.3
    palm_margin_m: float = 0.0015  # the approach stops when the palm comes this close to the surface ...
    finger_stop_m: float = 0.0015  # ... or another link this close (negative: that deep inside)
    finger_margin_m: float = 0.001  # a joint stops when a link it moves comes this close to the object ...
    self_margin_m: float = 0.001  # ... or to another link of the hand
    joint_step_rad: float = 0.04  # per closing step, for the joint that closes most
    max_steps: int = 120  # 120 x 0.04 rad: every joint can reach its limit
    # Then on the exact SDF (the grid reads up to half a cell diagonal off, millimetres: fingers left that far off
    # the surface engage late and one by one in simulation and push a free object away): joints stopped by the
    # object close on in fine steps until a link they move is within `exact_margin_m` of the exact surface.
    exact_margin_m: float = 0.0002
    exact_step_rad: float = 0.005
    exact_steps: int = 20
    exact_reach_m: float = 0.006  # only points this close on the grid are queried exactly

    def __post_init__(self) -> None:
        if min(self.approach_step_m, self.max_travel_m, self.joint_step_rad) <= 0 or self.max_steps < 1:
            raise ValueError("closing steps, travel and step count must be positive")


@dataclass(frozen=True)
class SynthesisConfig:
    gap_m: float = 0.12  # start distance of the palm centre from the target point, along the approach
    jitter_rad: float = 0.3  # random tilt of the approach away from the surface normal
    roll_noise_rad: float = 0.3  # random turn of the fingers' curl away from across the object's long axis
    aim_offset_m: tuple[float, float] = (0.0, 0.03)  # the palm-centre anchor moved towards the fingers, uniform
    neighbourhood_m: float = 0.06  # radius of surface points whose principal axis is the local long axis
    oversample: int = 4  # candidates closed per grasp returned
    contact_threshold_m: float = 0.0035  # links this close count as touching when candidates are ranked
    max_penetration_m: float = 0.002  # the acceptance test's: the best-ranked candidate under it is kept
    penetration_checks: int = 3  # candidates per grasp measured (exactly, best ranked first) before giving up
    closing: ClosingConfig = field(default_factory=ClosingConfig)
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(steps=0, polish_steps=0))

    def __post_init__(self) -> None:
        if self.oversample < 1:
            raise ValueError(f"oversample must be at least 1, got {self.oversample}")
        if not 0 <= self.aim_offset_m[0] <= self.aim_offset_m[1]:
            raise ValueError(f"aim_offset_m must be an ordered pair of non-negative offsets, got {self.aim_offset_m}")


def palm_face(hand: HandModel, band_m: float = 0.003) -> tuple[torch.Tensor, torch.Tensor]:
    """In the hand frame: the outward unit normal (3,) and the area centroid (3,) of the palm's face, read off the
    root link's official collision geometry: the face that sticks out furthest among those facing within 30
    degrees of the way the fingertips move (`HandModel.palm_frame().normal`), with the coplanar faces within
    `band_m` below it.

    Not the fingertip direction itself: on the Allegro the thumb swings into opposition faster than the fingers
    curl and tilts that direction 8 degrees off the palm box's normal, and a band of a few millimetres below the
    highest point of a face tilted so picks one edge of the palm, 5 cm off its centre (docs/benchmarks.md,
    "Allegro")."""
    pieces = hand_collision(hand).pieces
    root = hand.link_names.index(hand.spec.root_body)
    triangles = pieces.triangles[np.isin(pieces.triangle_piece, np.flatnonzero(pieces.link_index == root))]
    cross = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])  # (T, 3), outward
    area = np.linalg.norm(cross, axis=1) / 2
    normals, centres = cross / np.maximum(2 * area, 1e-12)[:, None], triangles.mean(1)
    tips = hand.palm_frame().normal.cpu().numpy()
    facing = (normals @ tips > np.cos(np.radians(30))) & (area > 0)
    if not facing.any():
        raise ValueError(f"hand {hand.name!r}: no collision face of its root link faces the palm side")
    top = np.argmax(np.where(facing, centres @ tips, -np.inf))
    normal = normals[top]
    face = (normals @ normal > np.cos(np.radians(5))) & (centres @ normal > centres[top] @ normal - band_m)
    centre = (area[face, None] * centres[face]).sum(0) / area[face].sum()
    kw = {"dtype": hand.dtype, "device": hand.device}
    return torch.as_tensor(normal, **kw), torch.as_tensor(centre, **kw)


def hand_axes(hand: HandModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """In the hand frame: the palm normal, the direction straight fingers point, the lateral axis (normal x
    fingers, the axis the fingers curl about) and the centre of the palm's face (`palm_face`)."""
    normal, face = palm_face(hand)
    poses = hand.open_pose(2)
    poses[1, 9:] = hand.pregrasp_joints()
    fingers = hand.contact_finger_index != hand.finger_names.index("thumb")
    with torch.no_grad():
        tips = hand.contact_candidates(poses)[:, fingers].mean(1)  # open, curled
    reach = tips[0] - tips[1]
    along = torch.nn.functional.normalize(reach - (reach @ normal) * normal, dim=0)
    return normal, along, torch.linalg.cross(normal, along), face


def initial_poses(
    hand: HandModel,
    points: torch.Tensor,
    normals: torch.Tensor,
    config: SynthesisConfig,
    generator: torch.Generator,
    cloud: torch.Tensor | None = None,
) -> torch.Tensor:
    """Open hands (B, 25) facing the target surface points (B, 3) with outward normals (B, 3), the palm centre
    `config.gap_m` out. With the object's surface points `cloud` (N, 3) the fingers curl across the local long
    axis (module docstring); without, the turn about the approach is uniform."""
    b = len(points)
    kw = {"dtype": hand.dtype, "device": hand.device}
    normal_h, along_h, lateral_h, face = hand_axes(hand)
    tilt_axis = torch.nn.functional.normalize(torch.randn(b, 3, generator=generator, **kw), dim=-1)
    tilt_axis = torch.nn.functional.normalize(tilt_axis - (tilt_axis * normals).sum(-1, keepdim=True) * normals, dim=-1)
    tilt = torch.rand(b, 1, generator=generator, **kw) * config.jitter_rad
    approach = (axis_angle_to_matrix(tilt_axis * tilt) @ normals[..., None]).squeeze(-1)  # (B, 3) outward
    if cloud is None:
        start = torch.nn.functional.normalize(torch.randn(b, 3, generator=generator, **kw), dim=-1)
        noise = torch.pi
    else:
        near = (torch.cdist(points, cloud) < config.neighbourhood_m).to(hand.dtype)  # (B, N)
        mean = (near[..., None] * cloud).sum(1) / near.sum(1, keepdim=True).clamp_min(1.0)
        spread = torch.einsum("bn,bni,bnj->bij", near, cloud - mean[:, None], cloud - mean[:, None])
        across = torch.eye(3, **kw) - approach[:, :, None] * approach[:, None, :]  # projector across the approach
        start = torch.linalg.eigh(across @ spread @ across).eigenvectors[..., -1]  # (B, 3) local long axis
        noise = config.roll_noise_rad
    lateral = torch.nn.functional.normalize(start - (start * approach).sum(-1, keepdim=True) * approach, dim=-1)
    side = torch.where(torch.rand(b, 1, generator=generator, **kw) < 0.5, -1.0, 1.0)  # thumb on either side
    turn = (torch.rand(b, 1, generator=generator, **kw) * 2 - 1) * noise
    lateral = side * (axis_angle_to_matrix(approach * turn) @ lateral[..., None]).squeeze(-1)
    world = torch.stack([-approach, torch.linalg.cross(lateral, -approach, dim=-1), lateral], -1)  # images of
    rotation = world @ torch.stack([normal_h, along_h, lateral_h], -1).T  # the hand's normal, fingers, lateral
    low, high = config.aim_offset_m
    anchor = face + (low + (high - low) * torch.rand(b, 1, generator=generator, **kw)) * along_h  # (B, 3) hand
    translation = points + approach * config.gap_m - (rotation @ anchor[..., None]).squeeze(-1)
    return join_pose(translation, matrix_to_rot6d(rotation), hand.open_joints().expand(b, -1))


@torch.no_grad()
def close_on_object(hand: HandModel, x: torch.Tensor, approach: torch.Tensor, sdf, config: ClosingConfig,
                    exact: MeshSDF | None = None) -> torch.Tensor:
    """Open hands x (B, 25) -> grasps: each moves down -approach (B, 3) until it touches, then closes until its
    links touch (module docstring). `sdf` (B, N, 3) -> (B, N): the object's SDF grid; `exact`: its exact SDF for
    the final fine closing (skipped when None)."""
    geometry = contact_geometry(hand)
    root = hand.link_names.index(hand.spec.root_body)
    x = x.clone()
    moving = torch.ones(len(x), dtype=torch.bool, device=x.device)
    travelled = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    limit = torch.full_like(travelled, config.max_travel_m)  # largest step still to try
    distance = link_distances(hand, x, sdf)  # (B, L)
    for _ in range(int(config.max_travel_m / config.approach_step_m)):
        # Sphere tracing: steps as long as the hand's clearance (the SDF is 1-Lipschitz), halved when the grid's
        # reading (an upper bound outside the grid's box) let one overshoot; the hand stops only when a step of
        # `approach_step_m` would bring it within the margin.
        free = torch.minimum(distance[:, root] - config.palm_margin_m, distance.amin(1) - config.finger_stop_m)
        step = torch.minimum(free.clamp(min=config.approach_step_m), limit).clamp(max=config.max_travel_m - travelled)
        trial = x.clone()
        trial[:, :3] -= step[:, None] * approach
        trial_distance = link_distances(hand, trial, sdf)
        touched = (trial_distance[:, root] < config.palm_margin_m) | (trial_distance.amin(1) < config.finger_stop_m)
        go = moving & ~touched & (step > 0)
        x[go], distance[go], travelled[go] = trial[go], trial_distance[go], travelled[go] + step[go]
        retry = moving & touched & (step > config.approach_step_m)
        limit[retry] = step[retry] / 2
        moving &= go | retry
        if not moving.any():
            break
    if exact is not None:  # a coarse grid can read millimetres off: back out of what the exact SDF finds inside
        for _ in range(3):
            clearance = link_distances(hand, x, lambda p: exact(p.to(exact.vertices.dtype)).to(x.dtype)).amin(1)
            short = (config.finger_stop_m - clearance).clamp(min=0.0)
            if not (short > 0).any():
                break
            x[:, :3] += (short + 1e-4)[:, None] * approach
    closing = hand.pregrasp_joints() - hand.open_joints()
    closing = closing / closing.abs().max()
    active = (closing != 0).expand(len(x), -1).clone()
    already = torch.as_tensor(self_contact_links(hand, x[:, 9:].cpu().numpy(), config.self_margin_m), device=x.device)
    by_object = torch.zeros_like(active)  # joints stopped by the object (they close on in the exact stage)
    for _ in range(config.max_steps):
        trial = x.clone()
        trial[:, 9:] = hand.clamp_joints(x[:, 9:] + config.joint_step_rad * closing * active)
        self_touching = torch.zeros_like(already)
        rows = torch.nonzero(active.any(1)).squeeze(1)  # hands still closing
        self_touching[rows] = torch.as_tensor(
            self_contact_links(hand, trial[rows, 9:].cpu().numpy(), config.self_margin_m), device=x.device)
        self_touching &= ~already
        touching = (link_distances(hand, trial, sdf) < config.finger_margin_m) | self_touching  # (B, L)
        blocked = (touching[:, None, :] & geometry.moves[None]).any(-1)  # (B, J): a link this joint moves touches
        at_limit = trial[:, 9:] == x[:, 9:]
        x[:, 9:] = torch.where(active & ~blocked, trial[:, 9:], x[:, 9:])
        by_object |= blocked & ~((self_touching[:, None, :] & geometry.moves[None]).any(-1))
        active &= ~blocked & ~at_limit
        if not active.any():
            break
    return x if exact is None else _close_on_exact(hand, x, sdf, exact, by_object, closing, config)


def _close_on_exact(hand: HandModel, x: torch.Tensor, grid, exact: MeshSDF, active: torch.Tensor,
                    closing: torch.Tensor, config: ClosingConfig) -> torch.Tensor:
    """The fine closing on the exact SDF (see ClosingConfig): joints `active` (B, J) step on until a link they move
    is within `exact_margin_m` of the object (or `self_margin_m` of another link), and every joint that moves a
    link inside the object steps back (a coarse grid lets fingers sink in). Only surface points within
    `exact_reach_m` on the grid are queried."""
    geometry = contact_geometry(hand)
    rows, columns = torch.nonzero(grid(geometry.surface.move(hand.link_poses(x))) < config.exact_reach_m,
                                  as_tuple=True)
    if len(rows) == 0:
        return x
    links = geometry.point_link[columns]
    already = torch.as_tensor(self_contact_links(hand, x[:, 9:].cpu().numpy(), config.self_margin_m), device=x.device)
    movable = (closing != 0).expand_as(active)

    def link_state(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) links within the margin of the object or of another link, (B, L) links inside the object."""
        posed = x.clone()
        posed[:, 9:] = q
        distance = exact(geometry.surface.move(hand.link_poses(posed))[rows, columns][None].to(exact.vertices.dtype))[0]
        near, inside = torch.zeros_like(already), torch.zeros_like(already)
        near[rows[distance < config.exact_margin_m], links[distance < config.exact_margin_m]] = True
        inside[rows[distance < -config.exact_margin_m], links[distance < -config.exact_margin_m]] = True
        moving = torch.nonzero((active | movable).any(1)).squeeze(1)
        near[moving] |= torch.as_tensor(self_contact_links(hand, q[moving].cpu().numpy(), config.self_margin_m),
                                        device=x.device) & ~already[moving]
        return near, inside

    for _ in range(config.exact_steps):
        near, inside = link_state(x[:, 9:])
        back = movable & (inside[:, None, :] & geometry.moves[None]).any(-1)  # (B, J) joints moving a sunk link
        on = active & ~(near[:, None, :] & geometry.moves[None]).any(-1) & ~back.any(1, keepdim=True)
        if not (back.any() or on.any()):
            break
        step = config.exact_step_rad * closing * (on.to(x.dtype) - back.to(x.dtype))
        trial = hand.clamp_joints(x[:, 9:] + step)
        trial_near, _ = link_state(trial)
        ok = back | ~(trial_near[:, None, :] & geometry.moves[None]).any(-1)  # a closing step must not touch
        before = x[:, 9:].clone()
        x[:, 9:] = torch.where((on | back) & ok, trial, before)
        active = active & ~(on & ~ok) & ~(on & (trial == before))  # stopped by a touch or at a limit
    return x


# Rank penalty of a candidate that touches none of its target points: any grasp on the part beats every grasp off it
# (friction keys are at most a few units).
OFF_TARGET_PENALTY = 1e3


def rank_candidates(hand: HandModel, x: torch.Tensor, sdf: MeshSDF, centre: np.ndarray, threshold_m: float,
                    targets: list[np.ndarray] | None = None) -> np.ndarray:
    """(B,) sort keys, lower is better: needed friction (+inf without the thumb and two more fingers touching)
    plus the penetration depth in metres (a tie-break: friction is in steps of 1/128). Contacts on the exact SDF,
    as the acceptance test measures them. targets: per candidate, the surface points (M_b, 3) it is meant to hold
    (one part's, so that "hold the handle" is true); a candidate none of whose touching links is within
    `threshold_m` of one of them gets `OFF_TARGET_PENALTY`."""
    contacts = link_contacts(hand, x, sdf)
    touching = contacts.distance_m < threshold_m  # (B, L)
    fingers = (touching[:, None, :] & contact_geometry(hand).finger_links.cpu().numpy()[None]).any(-1)  # (B, F)
    thumb = hand.finger_names.index("thumb")
    friction = required_friction(contacts.point, contacts.normal, touching, centre)
    friction[(fingers.sum(1) < 3) | ~fingers[:, thumb]] = np.inf
    keys = friction + np.clip(-contacts.distance_m.min(1), 0.0, None)
    if targets is not None:
        for b, target in enumerate(targets):
            reach = np.linalg.norm(contacts.point[b][touching[b]][:, None] - target[None], axis=-1)  # (touching, M)
            if not (reach < threshold_m + 3e-3).any():  # + about the spacing of the surface samples
                keys[b] += OFF_TARGET_PENALTY
    return keys


def _first_clean(hand: HandModel, x: torch.Tensor, sdf: MeshSDF, keys: np.ndarray, config: SynthesisConfig
                 ) -> np.ndarray:
    """(count,) per grasp the candidate (index among its `oversample`) to keep: in rank order, the first whose exact
    penetration (`flash_core.hands.collision`, as the acceptance test measures it, to 0.5 mm) is under the limit;
    the best-ranked one when none of the first `penetration_checks` is."""
    count, k = keys.shape
    order = np.argsort(keys, axis=1, kind="stable")  # (count, k)
    chosen = order[:, 0].copy()
    pending = np.arange(count)
    collision = hand_collision(hand)
    for rank in range(min(k, config.penetration_checks)):
        rows = torch.as_tensor(pending * k + order[pending, rank], device=x.device)
        depth = collision.penetration(x[rows], sdf, 5e-4, config.max_penetration_m).max_m.cpu().numpy()
        clean = depth < config.max_penetration_m
        chosen[pending[clean]] = order[pending[clean], rank]
        pending = pending[~clean]
        if len(pending) == 0:
            break
    return chosen


@dataclass
class SynthesizedGrasps:
    initial: torch.Tensor  # (B, 25) the open hands the approach started from
    optimized: torch.Tensor  # (B, 25) the grasps


def synthesize_grasps(
    hand: HandModel,
    sdf: MeshSDF,
    points: np.ndarray,
    normals: np.ndarray,
    count: int,
    config: SynthesisConfig,
    seed: int = 0,
    target_masks: np.ndarray | None = None,
    grid: SDFGrid | None = None,
    progress=None,
) -> SynthesizedGrasps:
    """`count` grasps of an object given by its SDF, surface points (N, 3) with outward normals and SDF grid.

    target_masks (count, N) bool: per grasp, the points it should start at (e.g. one part's); None lets every
    grasp use the whole surface. grid: the object's SDF grid for approach, closing and ranking (the exact `sdf`
    when None: slower). progress(k) is called after each grasp's candidates are closed.
    """
    if target_masks is not None and (target_masks.shape != (count, len(points)) or not target_masks.any(1).all()):
        raise ValueError(f"target_masks must be ({count}, {len(points)}) with at least one point per grasp")
    grid = grid if grid is not None else sdf
    generator = torch.Generator(device=hand.device).manual_seed(seed)
    kw = {"dtype": hand.dtype, "device": hand.device}
    k = config.oversample
    allowed = (
        torch.ones(count, len(points), dtype=torch.bool, device=hand.device)
        if target_masks is None
        else torch.as_tensor(target_masks, device=hand.device)
    ).repeat_interleave(k, 0)  # (count * k, N)
    pick = torch.multinomial(allowed.to(hand.dtype), 1, generator=generator).squeeze(1)
    surface, outward = torch.as_tensor(points, **kw), torch.as_tensor(normals, **kw)
    x0 = initial_poses(hand, surface[pick], outward[pick], config, generator, cloud=surface)
    approach = -(rot6d_to_matrix(x0[:, 3:9]) @ hand_axes(hand)[0])  # (B, 3): the palm faces down it
    x = close_on_object(hand, x0, approach, grid, config.closing, exact=sdf)
    if progress is not None:
        progress(0)
    centre = centre_of_mass(sdf.vertices.cpu().numpy(), sdf.faces.cpu().numpy())
    targets = None if target_masks is None else [points[mask] for mask in allowed.cpu().numpy()]
    keys = rank_candidates(hand, x, sdf, centre, config.contact_threshold_m, targets).reshape(count, k)
    best = torch.as_tensor(np.arange(count) * k + _first_clean(hand, x, sdf, keys, config), device=hand.device)
    x, x0 = x[best], x0[best]
    if config.optimizer.steps + config.optimizer.polish_steps > 0:
        target = (surface, allowed[best]) if target_masks is not None else (None, None)
        x = optimize_grasps(hand, x, sdf, config.optimizer, grid if grid is not sdf else None, *target)
    return SynthesizedGrasps(x0, x)

