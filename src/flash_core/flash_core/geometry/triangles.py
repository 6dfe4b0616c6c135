"""Closest point on triangles, vectorised in torch (Ericson, Real-Time Collision Detection, 5.1.5).

Used to refine warp's float32 mesh queries in the caller's dtype: warp finds which face is closest,
this finds where on that face, so float64 signed distances are exact to float64 rounding.
"""

from __future__ import annotations

import torch


def _safe_ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    # Denominators vanish only in regions that an earlier branch already claims; avoid inf/NaN there.
    return num / torch.where(den == 0, torch.ones_like(den), den)


def closest_point_on_triangles(points: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Closest point to each of `points` (..., 3) on triangle (a, b, c), each (..., 3) -> (..., 3)."""
    ab, ac = b - a, c - a
    ap, bp, cp = points - a, points - b, points - c

    def dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u * v).sum(-1, keepdim=True)

    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    # Voronoi regions in Ericson's order; the first that holds wins, so apply them last to first.
    regions = [
        ((d1 <= 0) & (d2 <= 0), a),
        ((d3 >= 0) & (d4 <= d3), b),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + _safe_ratio(d1, d1 - d3) * ab),
        ((d6 >= 0) & (d5 <= d6), c),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + _safe_ratio(d2, d2 - d6) * ac),
        ((va <= 0) & (d4 >= d3) & (d5 >= d6), b + _safe_ratio(d4 - d3, (d4 - d3) + (d5 - d6)) * (c - b)),
    ]
    total = va + vb + vc
    closest = a + ab * _safe_ratio(vb, total) + ac * _safe_ratio(vc, total)  # interior of the face
    for inside, point in reversed(regions):
        closest = torch.where(inside, point, closest)
    return closest
