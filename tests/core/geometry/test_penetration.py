import pytest
import torch
import trimesh

from flash_core.geometry.penetration import contact_distance, penetration
from flash_core.geometry.sdf import MeshSDF
from flash_core.geometry.sdf_grid import SDFGrid

RADIUS_M = 0.1


def analytic_sphere(points: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(points, dim=-1) - RADIUS_M


@pytest.fixture(scope="module")
def mesh_sphere():
    return MeshSDF.from_trimesh(trimesh.creation.icosphere(subdivisions=5, radius=RADIUS_M))


def test_penetration_equals_analytic_depth(mesh_sphere):
    radii = torch.tensor([[0.02, 0.07, 0.099, 0.1, 0.13, 0.5], [0.09, 0.2, 0.3, 0.4, 0.5, 0.6]], dtype=torch.float64)
    directions = torch.nn.functional.normalize(torch.randn(2, 6, 3, dtype=torch.float64), dim=-1)
    points = directions * radii.unsqueeze(-1)
    expected_depth = (RADIUS_M - radii).clamp_min(0)
    for sdf, atol in [(analytic_sphere, 1e-12), (mesh_sphere, 1e-4)]:  # the mesh is a tessellated sphere
        result = penetration(points, sdf)
        torch.testing.assert_close(result.depth_m, expected_depth, atol=atol, rtol=0)
        torch.testing.assert_close(result.max_m, expected_depth.amax(-1), atol=atol, rtol=0)
        torch.testing.assert_close(result.sum_m, expected_depth.sum(-1), atol=6 * atol, rtol=0)
    assert penetration(points, analytic_sphere).inside.tolist() == [
        [True, True, True, False, False, False],
        [True] + [False] * 5,
    ]


def test_penetration_mask_and_gradient_push_points_out():
    points = torch.tensor(
        [[[0.05, 0.0, 0.0], [0.0, 0.03, 0.0], [0.3, 0.0, 0.0]]], dtype=torch.float64, requires_grad=True
    )
    mask = torch.tensor([[True, False, True]])
    result = penetration(points, analytic_sphere, mask=mask)
    torch.testing.assert_close(result.sum_m, torch.tensor([0.05], dtype=torch.float64))
    (gradient,) = torch.autograd.grad(result.sum_m.sum(), points)
    # Descending the penalty moves the penetrating point outward (+x), leaves the others alone.
    torch.testing.assert_close(-gradient[0, 0], torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert float(gradient[0, 1:].abs().max()) == 0.0


def test_penetration_with_grid_sdf(mesh_sphere):
    grid = SDFGrid.from_mesh_sdf(mesh_sphere, resolution=32, padding_m=0.02)
    points = torch.rand(1, 500, 3, dtype=torch.float64) * 0.2 - 0.1
    exact, approx = penetration(points, mesh_sphere), penetration(points, grid)
    assert float((exact.depth_m - approx.depth_m).abs().max()) <= grid.max_error_m


def test_contact_distance_is_unsigned_surface_distance():
    contacts = torch.tensor([[[0.1, 0.0, 0.0], [0.0, 0.08, 0.0], [0.0, 0.0, -0.15]]], dtype=torch.float64)
    torch.testing.assert_close(
        contact_distance(contacts, analytic_sphere), torch.tensor([[0.0, 0.02, 0.05]], dtype=torch.float64)
    )


def test_penetration_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        penetration(torch.tensor([[[float("nan"), 0.0, 0.0]]]), analytic_sphere)
    with pytest.raises(ValueError, match="returned shape"):
        penetration(torch.zeros(1, 4, 3), lambda p: p.sum())
    with pytest.raises(ValueError, match="mask"):
        penetration(torch.zeros(1, 4, 3), analytic_sphere, mask=torch.ones(1, 3, dtype=torch.bool))
