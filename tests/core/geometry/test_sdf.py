from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from flash_core.geometry.sdf import MeshSDF


@pytest.fixture(scope="module")
def sphere():
    return trimesh.creation.icosphere(subdivisions=4, radius=0.1)


@pytest.fixture(scope="module")
def box():
    return trimesh.creation.box(extents=(0.2, 0.1, 0.06))


def box_sdf(points: torch.Tensor, half_extents: torch.Tensor) -> torch.Tensor:
    """Closed-form signed distance of an axis-aligned box centred at the origin (negative inside)."""
    q = points.abs() - half_extents
    return torch.linalg.vector_norm(q.clamp_min(0), dim=-1) + q.amax(-1).clamp_max(0)


def test_sdf_matches_trimesh_with_sign_flipped():
    mesh = trimesh.creation.annulus(r_min=0.03, r_max=0.08, height=0.05, sections=48)
    points = torch.rand(1, 1500, 3, dtype=torch.float64) * 0.24 - 0.12
    ours = MeshSDF.from_trimesh(mesh)(points)[0].numpy()
    reference = -trimesh.proximity.signed_distance(mesh, points[0].numpy())  # trimesh: positive inside
    assert np.array_equal(np.sign(ours), np.sign(reference))
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_sdf_box_closed_form_sign_and_value(box):
    sdf = MeshSDF.from_trimesh(box)
    assert sdf.sign_method == "winding"
    points = torch.rand(2, 2000, 3, dtype=torch.float64) * 0.4 - 0.2
    expected = box_sdf(points, torch.tensor([0.1, 0.05, 0.03], dtype=torch.float64))
    torch.testing.assert_close(sdf(points), expected, atol=1e-7, rtol=0)  # face picked in float32
    assert bool((sdf(torch.zeros(1, 1, 3, dtype=torch.float64)) < 0).all())  # centre is inside: negative


def test_sdf_sign_on_the_medial_plane_of_a_coarse_box(box):
    # Points inside, (almost) equidistant to the top and bottom faces: warp's default epsilon (1e-3 of
    # the mean edge) treated those distances as equal and returned the wrong sign for some of them.
    points = torch.rand(1, 20000, 3, dtype=torch.float64) * torch.tensor(
        [0.18, 0.08, 0.0], dtype=torch.float64
    ) - torch.tensor([0.09, 0.04, 0.0], dtype=torch.float64)
    points[..., 2] = (torch.rand(1, 20000, dtype=torch.float64) - 0.5) * 2e-4
    expected = box_sdf(points, torch.tensor([0.1, 0.05, 0.03], dtype=torch.float64))
    torch.testing.assert_close(MeshSDF.from_trimesh(box)(points), expected, atol=1e-7, rtol=0)  # face picked in float32


def test_sdf_sphere_closed_form_and_gradient_along_normal(sphere):
    sdf = MeshSDF.from_trimesh(sphere)
    directions = torch.nn.functional.normalize(torch.randn(1, 500, 3, dtype=torch.float64), dim=-1)
    radii = torch.rand(1, 500, 1, dtype=torch.float64) * 0.15 + 0.03  # inside and outside
    points = (directions * radii).requires_grad_(True)
    distance = sdf(points)
    # The tessellated sphere lies within 0.2 mm of the true one (subdivisions=4, r=0.1 m).
    torch.testing.assert_close(distance, radii[..., 0] - 0.1, atol=3e-4, rtol=0)
    (gradient,) = torch.autograd.grad(distance.sum(), points)
    torch.testing.assert_close(torch.linalg.vector_norm(gradient, dim=-1), torch.ones(1, 500, dtype=torch.float64))
    cosine = (gradient * directions).sum(-1)
    assert float(cosine.min()) > 0.99  # points radially outward both inside and outside


def test_sdf_gradient_matches_finite_differences(box):
    sdf = MeshSDF.from_trimesh(box)
    points = torch.rand(1, 200, 3, dtype=torch.float64) * 0.3 - 0.15
    points.requires_grad_(True)
    (gradient,) = torch.autograd.grad(sdf(points).sum(), points)
    step = 1e-6
    for axis in range(3):
        offset = torch.zeros(3, dtype=torch.float64)
        offset[axis] = step
        central = (sdf(points.detach() + offset) - sdf(points.detach() - offset)) / (2 * step)
        torch.testing.assert_close(gradient[..., axis], central, atol=1e-5, rtol=0)


def test_sdf_gradcheck(sphere):
    sdf = MeshSDF.from_trimesh(sphere)
    points = (torch.rand(2, 5, 3, dtype=torch.float64) * 0.2 - 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(sdf, (points,), eps=1e-7, atol=1e-5)


@pytest.mark.parametrize("method", ["normal", "winding"])
def test_both_sign_methods_match_the_box_closed_form(box, method):
    points = torch.rand(1, 2000, 3, dtype=torch.float64) * 0.4 - 0.2
    expected = box_sdf(points, torch.tensor([0.1, 0.05, 0.03], dtype=torch.float64))
    torch.testing.assert_close(MeshSDF.from_trimesh(box, sign_method=method)(points), expected, atol=1e-7, rtol=0)


def test_default_sign_agrees_with_trimesh_around_a_thin_walled_bowl():
    """Warp's pseudo-normal sign flips some points whose closest feature is the rim; the default must not."""
    from flash_training.data.objects import ProceduralSource

    bowl = ProceduralSource(1).load("bowl_000").mesh
    assert bowl.is_watertight
    low, high = bowl.bounds
    points = np.random.default_rng(0).uniform(low - 0.01, high + 0.01, (5000, 3))
    inside = bowl.contains(points)
    ours = MeshSDF.from_trimesh(bowl)(torch.as_tensor(points, dtype=torch.float32)[None])[0].numpy()
    assert np.array_equal(ours < 0, inside)


def test_winding_sign_on_open_box(box):
    open_box = box.copy()
    open_box.update_faces(np.arange(len(box.faces)) >= 2)  # drop the two triangles of one side
    assert not open_box.is_watertight
    sdf = MeshSDF.from_trimesh(open_box)
    assert sdf.sign_method == "winding"
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.05, 0.02, 0.0], [0.0, 0.0, 0.2], [0.3, 0.0, 0.0]]], dtype=torch.float64)
    assert torch.sign(sdf(points)).tolist() == [[-1.0, -1.0, 1.0, 1.0]]


def test_query_returns_closest_points_on_surface(box):
    sdf = MeshSDF.from_trimesh(box)
    points = torch.rand(1, 300, 3, dtype=torch.float64) * 0.4 - 0.2
    result = sdf.query(points)
    on_surface = sdf(result.closest_point)
    torch.testing.assert_close(on_surface, torch.zeros_like(on_surface), atol=1e-9, rtol=0)
    moved = result.closest_point + result.gradient * result.distance_m.unsqueeze(-1)
    torch.testing.assert_close(moved, points)  # p = closest + sdf * grad


def test_unsigned_distance_band(box):
    sdf = MeshSDF.from_trimesh(box)
    points = torch.rand(1, 3000, 3, dtype=torch.float64) * 0.4 - 0.2
    expected = box_sdf(points, torch.tensor([0.1, 0.05, 0.03], dtype=torch.float64)).abs()
    band = sdf.unsigned_distance(points, max_distance_m=0.02)
    near = expected < 0.0199
    torch.testing.assert_close(band[near], expected[near], atol=1e-7, rtol=0)
    assert bool(torch.isinf(band[expected > 0.0201]).all())


def test_float32_queries_agree_with_float64(sphere):
    sdf = MeshSDF.from_trimesh(sphere)
    points = torch.rand(2, 3000, 3, dtype=torch.float64) * 0.3 - 0.15
    exact, fast = sdf.query(points), sdf.query(points.float())
    assert fast.distance_m.dtype == torch.float32 and fast.gradient.dtype == torch.float32
    torch.testing.assert_close(fast.distance_m.double(), exact.distance_m, atol=2e-7, rtol=0)
    torch.testing.assert_close(fast.closest_point.double(), exact.closest_point, atol=2e-7, rtol=0)
    far = exact.distance_m.abs() > 1e-4  # the direction is ill-conditioned right at the surface
    torch.testing.assert_close(fast.gradient.double()[far], exact.gradient[far], atol=1e-3, rtol=0)


def test_float32_queries_and_bad_input(box):
    sdf = MeshSDF.from_trimesh(box)
    assert sdf(torch.zeros(3, 4, 3)).dtype == torch.float32
    with pytest.raises(ValueError, match="NaN"):
        sdf(torch.tensor([[[0.0, float("nan"), 0.0]]]))
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        sdf(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="empty mesh"):
        MeshSDF(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="face indices"):
        MeshSDF(np.zeros((3, 3)), np.array([[0, 1, 5]]))
    with pytest.raises(ValueError, match="sign_method"):
        MeshSDF.from_trimesh(box, sign_method="ray")
    with pytest.raises(ValueError, match="max_distance_m"):
        MeshSDF.from_trimesh(box, max_distance_m=0.5)(torch.tensor([[[3.0, 0.0, 0.0]]]))


def test_warp_kernels_are_cached_in_the_flash_cache():
    from flash_core.geometry.warp_runtime import load_warp
    from flash_core.utils.cache import cache_dir

    # warp appends its version to the folder it is given
    assert Path(load_warp().config.kernel_cache_dir).parent == cache_dir("warp")
