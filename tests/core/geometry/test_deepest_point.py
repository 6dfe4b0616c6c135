"""Branch and bound for the deepest point of a surface inside a solid: exact cases, and convergence of sampling."""

import numpy as np
import pytest
import torch
import trimesh

from flash_core.geometry.deepest_point import deepest_point, lipschitz_bound, mesh_sdf_depth
from flash_core.geometry.sdf import MeshSDF

TOLERANCE_M = 1e-4


def analytic(signed_distance):
    """A DepthBound from a signed distance of points (P, 3) -> (P,), with the Lipschitz bound."""

    def depth_bound(cells, _batch, _floor):
        depth = -signed_distance(cells.mean(1))
        return depth, lipschitz_bound(cells, depth)

    return depth_bound


def one(triangle):
    return torch.tensor([triangle], dtype=torch.float64), torch.zeros(1, dtype=torch.long)


def test_tilted_triangle_into_a_half_space_is_deepest_at_its_lowest_corner():
    cells, batch = one([[0.0, 0.0, -0.003], [0.05, 0.0, 0.01], [0.0, 0.04, 0.02]])
    result = deepest_point(cells, batch, 1, analytic(lambda p: p[:, 2]), TOLERANCE_M)
    assert 0.003 - TOLERANCE_M <= result.depth_m.item() <= 0.003
    assert result.point[0, 2].item() < 0  # found near the corner, inside


def test_deepest_point_inside_a_face_not_at_corners_or_edges():
    # A flat triangle through a ball's centre: every corner and edge lies outside, the centre is 20 mm deep. Vertex
    # and edge checks alone would call this contact-free.
    cells, batch = one([[-0.1, -0.06, 0.0], [0.1, -0.06, 0.0], [0.0, 0.12, 0.0]])
    result = deepest_point(cells, batch, 1, analytic(lambda p: p.norm(dim=-1) - 0.02), TOLERANCE_M)
    assert 0.02 - TOLERANCE_M <= result.depth_m.item() <= 0.02


def test_separate_batch_elements_and_nothing_inside():
    cells = torch.tensor([[[0, 0, -0.001], [0.01, 0, 0.0], [0, 0.01, 0.0]], [[0, 0, 0.01], [0.01, 0, 0.01],
                                                                           [0, 0.01, 0.02]]], dtype=torch.float64)
    result = deepest_point(cells, torch.tensor([1, 0]), 3, analytic(lambda p: p[:, 2]), TOLERANCE_M)
    assert result.depth_m[0].item() == 0.0 and torch.isnan(result.point[0]).all()  # above the plane
    assert 0.001 - TOLERANCE_M <= result.depth_m[1].item() <= 0.001
    assert result.depth_m[2].item() == 0.0  # no triangles at all


def test_stop_above_gives_a_lower_bound_sooner():
    cells, batch = one([[-0.1, -0.06, 0.0], [0.1, -0.06, 0.0], [0.0, 0.12, 0.0]])
    full = deepest_point(cells, batch, 1, analytic(lambda p: p.norm(dim=-1) - 0.02), TOLERANCE_M)
    early = deepest_point(cells, batch, 1, analytic(lambda p: p.norm(dim=-1) - 0.02), TOLERANCE_M, stop_above_m=0.005)
    assert 0.005 < early.depth_m.item() <= full.depth_m.item() and early.evaluations < full.evaluations


def test_bad_input_is_refused():
    cells, batch = one([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match="tolerance_m"):
        deepest_point(cells, batch, 1, analytic(lambda p: p[:, 2]), 0.0)
    with pytest.raises(ValueError, match=r"\(P, 3, 3\)"):
        deepest_point(cells[:, :2], batch, 1, analytic(lambda p: p[:, 2]), TOLERANCE_M)
    with pytest.raises(ValueError, match="batch"):
        deepest_point(cells, torch.zeros(2, dtype=torch.long), 1, analytic(lambda p: p[:, 2]), TOLERANCE_M)


def test_sampling_converges_up_to_the_figure_against_a_mesh():
    """The convergence the assessment promises: the deepest of N uniform samples of the surface climbs with N
    towards the branch-and-bound figure, never more than the tolerance above it, and is within the tolerance of it
    at 64k samples."""
    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.03)
    sdf = MeshSDF.from_trimesh(ball)
    # A triangle slicing through the ball near its side: its deepest point lies inside the face.
    triangle = np.array([[0.012, -0.05, -0.04], [0.018, 0.05, -0.03], [0.015, 0.0, 0.06]])
    cells, batch = one(triangle.tolist())
    figure = deepest_point(cells, batch, 1, mesh_sdf_depth(sdf), TOLERANCE_M).depth_m.item()
    rng = np.random.default_rng(0)
    u, v = rng.random((2, 64_000))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    points = triangle[0] + u[:, None] * (triangle[1] - triangle[0]) + v[:, None] * (triangle[2] - triangle[0])
    depth = -sdf(torch.as_tensor(points)[None])[0].numpy()
    sampled = [float(depth[:count].max()) for count in (250, 4_000, 64_000)]  # denser and denser
    assert figure > 0.01
    assert max(sampled) <= figure + TOLERANCE_M  # denser sampling cannot raise the figure by more
    assert figure - sampled[-1] < TOLERANCE_M
