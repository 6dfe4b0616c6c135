"""Settle: place generated grasps the way they will be executed, on the object cloud's surface (no mesh at run time).

The network knows where and how to grasp (the part, the wrist orientation, which fingers), but its wrist often
sits a centimetre too deep or off, with fingers sunk into the object or hovering. The pick (and the simulated lift
test) executes a grasp by moving the open hand down its approach (the palm normal) to the wrist pose, then closing
the joints from the open hand to the grasp's angles and squeezing a little past them. Settling makes the returned
grasp one that this execution can reach and that presses where it touches, GraspIt-style (approach until
touching, close until contact: `flash_training.data.synthesis.close_on_object` on a mesh), here against the
object cloud's signed distance (`flash_core.geometry.cloud_sdf.CloudSDF`):

1. wrist: the hand, opened, slides along its approach until its collision surface (the geometry the simulator
   collides) clears the cloud's surface by `clearance_m`: backed out of the object when the open hand overlaps
   it, brought in when it hovers (by sphere tracing: steps of the clearance, within `max_backoff_m` /
   `max_advance_m`);
2. fingers: every joint closes from the open hand along the line to the network's angle, continued `overshoot`
   of the way past it, in `closing_samples` steps of the closing parameter (then `refinements` halved steps), and
   stops once a link it moves comes within `contact_margin_m` of the surface, so distal links wrap on after the
   proximal ones touch; a joint that brings nothing onto the surface keeps the network's angle. The execution's
   squeeze then presses the touching links onto the object.

On a table (`support`, the plane the object rests on, e.g. flash_perception's table_plane), the open hand is first
raised along the table's normal until it clears the table by `support_clearance_m` (the network, trained on
objects floating free, often reaches under a resting object), the wrist never slides nearer the table than that,
and the fingers stop on the table as on the object.

The wrist orientation and the network's finger choice are kept; all grasps settle in one batched pass. Self-
collision of the closing fingers is not checked. What a partial cloud does not show (its back side) counts as
outside beyond `max_distance_m` of the visible points, and within it as inside, behind the visible surface: a
hand the network put on the unseen side is backed out until it clears (measured in docs/benchmarks.md: on
single-view clouds settling lowers force closure and part alignment).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from flash_core.geometry.cloud_sdf import CloudSDF
from flash_core.geometry.rotations import rot6d_to_matrix
from flash_core.geometry.support_plane import SupportPlane
from flash_core.hands.attached import LinkAttachedPoints
from flash_core.hands.hand_model import HandModel
from flash_core.hands.link_surface import link_surface, per_link_min


@dataclass(frozen=True)
class SettleConfig:
    clearance_m: float = 0.002  # the open hand stops this far from the cloud's surface
    max_backoff_m: float = 0.06  # the wrist moves at most this far back out along the approach ...
    max_advance_m: float = 0.03  # ... and at most this far in
    wrist_iterations: int = 8  # sphere-tracing steps of the wrist
    contact_margin_m: float = 0.001  # a joint stops closing when a link it moves comes this close (< 0: this deep)
    overshoot: float = 0.15  # fingers close on past the network's angles by this fraction of (angles - open)
    closing_samples: int = 16  # closing parameters tried on the coarse grid, 0 .. 1 + overshoot
    refinements: int = 4  # bisection steps after the grid (each halves the closing step)
    neighbors: int = 8  # cloud points in each signed-distance estimate
    max_distance_m: float = 0.03  # hand points farther than this from the cloud count as outside
    surface_points: int = 512  # samples of the hand's collision surface (plus its ~650 polytope corners)
    # With a support plane: the open hand stays this far above it (a planner pads the table by about as much).
    support_clearance_m: float = 0.01

    def __post_init__(self) -> None:
        if min(self.clearance_m, self.max_backoff_m, self.max_advance_m) < 0:
            raise ValueError("clearance and travel limits must be >= 0")
        if self.support_clearance_m < 0:
            raise ValueError(f"support_clearance_m must be >= 0, got {self.support_clearance_m}")
        if self.overshoot < 0 or self.closing_samples < 2 or self.wrist_iterations < 1 or self.refinements < 0:
            raise ValueError("overshoot must be >= 0, closing_samples >= 2, wrist_iterations >= 1, refinements >= 0")


@dataclass(frozen=True)
class FingerGeometry:
    """One hand's collision surface (N points on their links), which links each joint moves, each link's finger."""

    surface: LinkAttachedPoints
    moves: torch.Tensor  # (J, L) bool: joint j moves link l
    link_finger: torch.Tensor  # (L,) finger index of each link, -1 for links no finger moves (the palm)


@functools.lru_cache(maxsize=8)
def finger_geometry(hand: HandModel, num_points: int = 1024) -> FingerGeometry:
    """Built once per hand: a link belongs to the finger whose joints move that finger's last contact link."""
    links = link_surface(hand, num_points)
    surface, moves = links.points, links.moves
    link_finger = torch.full((len(hand.link_names),), -1, dtype=torch.long, device=hand.device)
    for f, name in enumerate(hand.finger_names):
        tip = hand.link_names.index(hand.spec.contact_fingers[name].links[-1])
        link_finger[moves[moves[:, tip]].any(0)] = f
    return FingerGeometry(surface, moves, link_finger)


@dataclass(frozen=True)
class SettledGrasps:
    x: torch.Tensor  # (B, 25) settled grasps, same frame as the input
    wrist_shift_m: torch.Tensor  # (B,) how far the wrist moved along its approach (negative: backed out)
    touching: torch.Tensor  # (B, F) bool: fingers that closed onto the surface (hand.finger_names order)


def cloud_sdf(points: torch.Tensor, normals: torch.Tensor | None, config: SettleConfig) -> CloudSDF:
    """The object surface settling works against, from the cloud (P, 3) and its normals (P, 3) or None."""
    return CloudSDF(points, normals, config.neighbors, max_distance_m=config.max_distance_m)


def _link_clearance(geometry: FingerGeometry, hand: HandModel, x: torch.Tensor, sdf: CloudSDF,
                    links: torch.Tensor | None = None, support: SupportPlane | None = None,
                    exact: bool = False) -> torch.Tensor:
    """x (B, 25) -> (B, L) signed distance of each link's collision surface to the cloud's surface, or to the
    support plane where that is nearer (m; +inf for links without collision geometry and, when `links` (B, L)
    bool is given, for the links it leaves out). Exact below the cloud's `max_distance_m`, a lower bound at or
    above it (`CloudSDF.bounded`: a hand's points that far from the cloud's box are not searched) unless `exact`."""
    points, link = geometry.surface.move(hand.link_poses(x)), geometry.surface.link_index  # (B, N, 3), (N,)
    wanted = links[:, link] if links is not None else torch.ones(points.shape[:2], dtype=torch.bool,
                                                                  device=points.device)  # (B, N)
    picked = points[wanted][None]  # (1, W, 3): one search for all the wanted points
    measured = sdf(picked) if exact else sdf.bounded(picked)  # (1, W)
    if support is not None:
        measured = torch.minimum(measured, support.height_m(picked))
    distance = torch.full(wanted.shape, torch.inf, dtype=points.dtype, device=points.device)
    return per_link_min(distance.masked_scatter(wanted, measured), link, len(hand.link_names))


@torch.no_grad()
def settle_grasps(hand: HandModel, x: torch.Tensor, sdf: CloudSDF, config: SettleConfig | None = None,
                  support: SupportPlane | None = None) -> SettledGrasps:
    """x (B, 25) finite grasps in the cloud's frame -> settled grasps in the same frame (module docstring);
    support: the plane the object rests on, in that frame, or None (an object in free space)."""
    config = config or SettleConfig()
    hand.validate_pose(x)
    if sdf.max_distance_m is not None and 2 * config.contact_margin_m >= sdf.max_distance_m:
        # Contact is judged on values below 2 margins, and the surface's are exact only below max_distance_m.
        raise ValueError(f"contact_margin_m ({config.contact_margin_m}) must be under half the surface's "
                         f"max_distance_m ({sdf.max_distance_m})")
    geometry = finger_geometry(hand, config.surface_points)
    approach = rot6d_to_matrix(x[:, 3:9]) @ hand.palm_frame().normal  # (B, 3): the way the palm faces
    opened = x.clone()
    opened[:, 9:] = hand.open_joints()
    travel_to_support = torch.full((len(x),), torch.inf, dtype=x.dtype, device=x.device)
    if support is not None:
        # 0. Raise the open hand off the table (a translation: every point rises by the same amount), and
        # bound the wrist's travel along the approach by the table it must not come nearer than the clearance.
        normal = support.normal.to(x.device, x.dtype)
        low = support.height_m(geometry.surface.move(hand.link_poses(opened))).amin(-1)  # (B,)
        raise_m = (config.support_clearance_m - low).clamp(min=0.0)
        x = x.clone()
        x[:, :3] += raise_m[:, None] * normal
        opened[:, :3] = x[:, :3]
        descent = -(approach @ normal)  # (B,) how fast a step along the approach goes down
        room = (low + raise_m - config.support_clearance_m).clamp(min=0.0)
        travel_to_support = torch.where(descent > 1e-6, room / descent.clamp(min=1e-6), travel_to_support)

    # 1. The open hand slides along its approach to `clearance_m` from the surface.
    shift = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    rows = torch.arange(len(x), device=x.device)  # hands still moving
    for _ in range(config.wrist_iterations):
        clearance = _link_clearance(geometry, hand, opened[rows], sdf).amin(-1)  # (R,)
        if sdf.max_distance_m is not None:  # a lower bound there: the step of a hand that far is measured
            far = clearance >= sdf.max_distance_m
            if far.any():
                clearance[far] = _link_clearance(geometry, hand, opened[rows[far]], sdf, exact=True).amin(-1)
        step = clearance - config.clearance_m
        moved = (shift[rows] + step).clamp(-config.max_backoff_m, config.max_advance_m)
        moved = torch.minimum(moved, travel_to_support[rows])
        change = (moved - shift[rows]).abs() > 1e-4  # (sub-0.1 mm steps: arrived, or at a travel limit)
        rows, moved = rows[change], moved[change]
        if len(rows) == 0:
            break
        shift[rows] = moved
        opened[rows, :3] = x[rows, :3] + moved[:, None] * approach[rows]

    # 2. The joints close from open towards (and past) the network's angles; a joint stops once a link it moves
    # comes within the margin, so distal links wrap on after proximal ones touch. Steps of the closing parameter
    # s (joints = open + s (network - open)) on a grid, then halved steps for the joints that stopped.
    span = x[:, 9:] - hand.open_joints()  # (B, J)

    def blocked_at(s: torch.Tensor, tested: torch.Tensor) -> torch.Tensor:
        """s (B, J) -> (B, J) joints moving a link within the margin of the surface at s. Only the `tested`
        (B, J) joints are measured, on the links they move; the others are reported blocked."""
        blocked = torch.ones_like(s, dtype=torch.bool)
        rows = torch.nonzero(tested.any(-1)).squeeze(1)  # (R,)
        if len(rows) == 0:
            return blocked
        posed = opened[rows].clone()
        posed[:, 9:] = hand.clamp_joints(hand.open_joints() + s[rows] * span[rows])
        links = (tested[rows, :, None] & geometry.moves[None]).any(1)  # (R, L) moved by a tested joint
        clearance = _link_clearance(geometry, hand, posed, sdf, links, support)  # (R, L)
        touching = clearance < config.contact_margin_m
        blocked[rows] = (touching[:, None, :] & geometry.moves[None]).any(-1)
        return blocked

    end = 1.0 + config.overshoot
    step = end / (config.closing_samples - 1)
    s = torch.zeros_like(span)
    active = span != 0
    for _ in range(config.closing_samples - 1):
        trial = torch.where(active, (s + step).clamp(max=end), s)
        blocked = blocked_at(trial, active)
        s = torch.where(active & ~blocked, trial, s)
        active &= ~blocked & (s < end)
        if not active.any():
            break
    stopped = (span != 0) & (s < end)
    s = torch.where(stopped, s, 1.0)  # a joint that moves nothing onto the surface keeps the network's angle
    for level in range(1, config.refinements + 1):
        trial = torch.where(stopped, s + step / 2 ** level, s)
        s = torch.where(stopped & ~blocked_at(trial, stopped), trial, s)
    settled = opened.clone()
    settled[:, 9:] = hand.clamp_joints(hand.open_joints() + s * span)
    link_touching = _link_clearance(geometry, hand, settled, sdf) < 2 * config.contact_margin_m  # (B, L)
    touching = torch.stack([link_touching[:, geometry.link_finger == f].any(-1)
                            for f in range(len(hand.finger_names))], -1)  # (B, F)
    finite = torch.isfinite(settled).all(-1)
    settled = torch.where(finite[:, None], settled, x)
    return SettledGrasps(settled, torch.where(finite, shift, 0.0), touching & finite[:, None])
