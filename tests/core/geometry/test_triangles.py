import torch
import trimesh

from flash_core.geometry.triangles import closest_point_on_triangles


def test_closest_point_matches_trimesh_in_every_voronoi_region():
    generator = torch.Generator().manual_seed(1)
    triangles = torch.rand(4000, 3, 3, generator=generator, dtype=torch.float64)
    points = torch.rand(4000, 3, generator=generator, dtype=torch.float64) * 3.0 - 1.0  # many land off the face
    ours = closest_point_on_triangles(points, triangles[:, 0], triangles[:, 1], triangles[:, 2])
    reference = trimesh.triangles.closest_point(triangles.numpy(), points.numpy())
    torch.testing.assert_close(ours, torch.from_numpy(reference), atol=1e-10, rtol=0)


def test_closest_point_on_degenerate_triangle_is_finite():
    a = torch.tensor([[0.0, 0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    c = torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64)  # collinear: zero area
    closest = closest_point_on_triangles(torch.tensor([[1.5, 1.0, 0.0]], dtype=torch.float64), a, b, c)
    assert bool(torch.isfinite(closest).all())
    torch.testing.assert_close(closest, torch.tensor([[1.5, 0.0, 0.0]], dtype=torch.float64))
