"""The deepest point of a triangulated surface inside a solid, to a stated tolerance, by branch and bound.

Each triangle is a cell. A depth function reports, per cell, the depth of its centroid (the distance inside the
solid, negative outside) and an upper bound of the depth anywhere on the cell. Cells whose bound exceeds the
deepest centroid found so far by more than `tolerance_m` are split in four at their edge midpoints; all others
are dropped. Splitting goes best first: per batch element only the cells whose bound lies in the upper half of the
gap between the deepest centroid and the largest bound are split in a round, the others wait (and are often dropped
once a deeper centroid is found). What is returned is the deepest centroid: never deeper than the surface's true
deepest point and at most `tolerance_m` shallower, so no denser sampling can raise it by more than that.

Bounds (`lipschitz_bound`, `mesh_sdf_depth`): a signed distance is 1-Lipschitz, so no point of a cell lies deeper
than its centroid plus the cell's radius (the largest centroid-to-corner distance). Against a mesh a tighter one
holds: a point's depth is at most its distance to any surface point, in particular to the centroid's closest
surface point, and over a triangle that distance peaks at a corner. A face lying flat at depth d is then dropped
once its cells' radius r satisfies sqrt(d^2 + r^2) <= d + tolerance, not r <= tolerance: far fewer cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from flash_core.geometry.sdf import MeshSDF

# cells (P, 3, 3), batch index (P,), floor (P,) -> depth of each centroid (P,) (metres inside, negative outside)
# and an upper bound of the depth over each whole cell (P,). A cell whose bound is at most its floor is dropped, so
# its depth may be reported as -inf: the function can skip costly work (a mesh's inside test) for it.
DepthBound = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

# Cells alive at once: a surface lying flat inside the solid keeps about area * depth / tolerance of them alive.
MAX_CELLS = 4_000_000


@dataclass(frozen=True)
class DeepestPoint:
    depth_m: torch.Tensor  # (B,) deepest centroid's depth, >= 0 (0: nothing inside); true value <= depth + tolerance
    point: torch.Tensor  # (B, 3) that centroid (NaN where nothing lies inside)
    evaluations: int  # cells whose depth was computed, for benchmarks


def cell_radius(cells: torch.Tensor) -> torch.Tensor:
    """cells (P, 3, 3) -> (P,) the largest centroid-to-corner distance: every point of a cell is that close."""
    return (cells - cells.mean(1, keepdim=True)).norm(dim=-1).amax(-1)


def lipschitz_bound(cells: torch.Tensor, centroid_depth: torch.Tensor) -> torch.Tensor:
    """(P,) upper bound of a 1-Lipschitz depth over each cell (P, 3, 3) from its centroid's depth (P,)."""
    return centroid_depth + cell_radius(cells)


def mesh_sdf_depth(sdf: MeshSDF) -> DepthBound:
    """Depth into the solid of an exact mesh SDF, with the closest-point bound (module docstring). The inside test
    (the costly part of a winding-number SDF) runs only for cells whose bound, were they inside, tops their floor."""

    def depth_bound(cells: torch.Tensor, _batch: torch.Tensor, floor: torch.Tensor):
        centroid = cells.mean(1)
        closest = sdf.closest(centroid[None])[0][0]
        distance = (centroid - closest).norm(dim=-1)
        if_inside = torch.minimum(distance + cell_radius(cells), (cells - closest[:, None]).norm(dim=-1).amax(-1))
        depth, upper = torch.full_like(distance, -torch.inf), if_inside.clone()
        test = torch.nonzero(if_inside > floor).squeeze(1)
        inside = sdf.inside(centroid[test][None])[0]
        depth[test] = torch.where(inside, distance[test], -distance[test])
        upper[test] = torch.where(inside, if_inside[test], lipschitz_bound(cells[test], -distance[test]))
        return depth, upper

    return depth_bound


def _split(cells: torch.Tensor) -> torch.Tensor:
    """(P, 3, 3) -> (4P, 3, 3): the four similar halves of each triangle, cut at the edge midpoints."""
    a, b, c = cells.unbind(1)
    ab, bc, ca = (a + b) / 2, (b + c) / 2, (c + a) / 2
    return torch.stack(
        [torch.stack(t, 1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))], 1
    ).reshape(-1, 3, 3)


def deepest_point(
    triangles: torch.Tensor,
    batch: torch.Tensor,
    num_batches: int,
    depth_bound: DepthBound,
    tolerance_m: float,
    stop_above_m: float = torch.inf,
) -> DeepestPoint:
    """Deepest point, per batch element, of the surface made of `triangles` (P, 3, 3), triangle p belonging to
    element `batch[p]` (P,) in [0, num_batches), inside the solid that `depth_bound` describes.

    stop_above_m: an element whose deepest centroid exceeds this is not refined further (its figure is then only
    a lower bound, above `stop_above_m`): cheap verdicts for hands that are plainly inside.
    Raises ValueError for bad shapes or a non-positive tolerance, RuntimeError when more than MAX_CELLS cells
    would stay alive (a surface lying flat deep inside at a tolerance too fine for it).
    """
    if triangles.ndim != 3 or triangles.shape[1:] != (3, 3):
        raise ValueError(f"triangles must have shape (P, 3, 3), got {tuple(triangles.shape)}")
    if batch.shape != triangles.shape[:1]:
        raise ValueError(f"batch must have shape ({len(triangles)},), got {tuple(batch.shape)}")
    if not tolerance_m > 0:
        raise ValueError(f"tolerance_m must be > 0, got {tolerance_m}")
    kw = {"dtype": triangles.dtype, "device": triangles.device}
    best = torch.zeros(num_batches, **kw)
    point = torch.full((num_batches, 3), torch.nan, **kw)
    evaluations = 0
    cells, owner = triangles, batch  # to evaluate this round
    waiting = (triangles[:0], batch[:0], triangles.new_zeros(0))  # evaluated, not split yet: cells, owner, bound
    while len(cells):
        depth, upper = depth_bound(cells, owner, best[owner] + tolerance_m)
        evaluations += len(cells)
        # Per element: the deepest centroid of this round, if it beats the best so far.
        round_best = torch.full((num_batches,), -torch.inf, **kw).scatter_reduce(0, owner, depth, "amax")
        improved = round_best > best
        if improved.any():
            at = torch.zeros(num_batches, dtype=torch.long, device=cells.device)
            winner = torch.nonzero(depth == round_best[owner]).squeeze(1)
            at[owner[winner]] = winner  # one deepest centroid per element (any one of equal ones)
            best = torch.where(improved, round_best, best)
            point = torch.where(improved[:, None], cells[at].mean(1), point)
        cells, owner, upper = (torch.cat(pair) for pair in zip(waiting, (cells, owner, upper), strict=True))
        open_ = (upper > best[owner] + tolerance_m) & (best[owner] <= stop_above_m)
        cells, owner, upper = cells[open_], owner[open_], upper[open_]
        top = torch.full((num_batches,), -torch.inf, **kw).scatter_reduce(0, owner, upper, "amax")
        split_above = best + torch.clamp((top - best) / 2, min=tolerance_m)
        now = upper >= split_above[owner]
        if int(now.sum()) * 4 + len(cells) > MAX_CELLS:
            raise RuntimeError(
                f"deepest_point: {int(now.sum()) * 4 + len(cells)} cells would stay alive (limit {MAX_CELLS}); "
                f"a surface lies flat deep inside the solid: use a tolerance above {tolerance_m} m"
            )
        waiting = (cells[~now], owner[~now], upper[~now])
        cells, owner = _split(cells[now]), owner[now].repeat_interleave(4)
    return DeepestPoint(best, point, evaluations)
