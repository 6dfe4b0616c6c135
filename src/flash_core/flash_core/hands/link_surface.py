"""A hand's collision surface as points attached to its links, and which links each joint moves: what contact
queries against an object are built on (settling grasps at run time; synthesis and acceptance in training)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from flash_core.hands.attached import LinkAttachedPoints
from flash_core.hands.collision import hand_collision, outer_surface_points
from flash_core.hands.hand_model import HandModel


@dataclass(frozen=True)
class LinkSurface:
    points: LinkAttachedPoints  # N samples of the outer collision surface (what MuJoCo collides), in link frames
    moves: torch.Tensor  # (J, L) bool: joint j moves link l


def per_link_min(values: torch.Tensor, link_index: torch.Tensor, num_links: int) -> torch.Tensor:
    """values (B, N) at points on the links `link_index` (N,) -> (B, num_links): each link's minimum (e.g. its
    collision surface's distance to an object), +inf for links without points."""
    out = torch.full((len(values), num_links), torch.inf, dtype=values.dtype, device=values.device)
    return out.scatter_reduce(1, link_index.expand(len(values), -1), values, "amin")


def per_link_argmin(values: torch.Tensor, link_index: torch.Tensor, num_links: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """values (B, N) at points on the links `link_index` (N,) -> each link's minimum (B, num_links) as
    `per_link_min`, and the column (B, num_links) int64 of its first point at that minimum: where a link is
    closest to an object (its contact). N for links without points or whose values are all infinite."""
    count = values.shape[1]
    minimum = per_link_min(values, link_index, num_links)
    at_min = (values == minimum[:, link_index]) & torch.isfinite(values)  # (B, N)
    order = torch.where(at_min, torch.arange(count, device=values.device), count)
    first = torch.full(minimum.shape, count, dtype=torch.long, device=values.device)
    return minimum, first.scatter_reduce(1, link_index.expand_as(order), order, "amin")


@functools.lru_cache(maxsize=8)
def link_surface(hand: HandModel, num_points: int = 1024) -> LinkSurface:
    """Built once per hand and sample count (about a second: the collision geometry). Which links a joint moves:
    perturb each joint at the pre-grasp pose and see which link frames change."""
    samples = outer_surface_points(hand_collision(hand).pieces, num_points)
    points = LinkAttachedPoints(samples.points, samples.link_index, hand.dtype, hand.device)
    x = hand.open_pose(hand.dof + 1)
    x[:, 9:] = hand.pregrasp_joints()
    x[1:, 9:] += 0.05 * torch.eye(hand.dof, dtype=hand.dtype, device=hand.device)
    with torch.no_grad():
        poses = hand.link_poses(x)
    moves = (poses[1:] - poses[:1]).abs().flatten(2).amax(-1) > 1e-6  # (J, L)
    return LinkSurface(points, moves)
