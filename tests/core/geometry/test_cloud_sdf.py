"""Signed distance from an oriented point cloud: exact on a plane, close to the true SDF of a sampled sphere,
estimated normals, the partial-view cut-off, the bounded query settling uses, and clear input errors."""

import pytest
import torch

from flash_core.geometry.cloud_sdf import CloudSDF, estimate_normals


def sphere(count: int, radius_m: float = 0.04, seed: int = 0) -> torch.Tensor:
    directions = torch.randn(count, 3, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.normalize(directions, dim=-1) * radius_m


def test_a_flat_patch_gives_the_height_above_it():
    axis = torch.linspace(-0.05, 0.05, 21)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    points = torch.cat((grid, torch.zeros(len(grid), 1)), -1)
    sdf = CloudSDF(points, torch.tensor([0.0, 0.0, 1.0]).expand_as(points))
    query = torch.tensor([[[0.003, -0.011, 0.004], [0.0, 0.02, -0.007], [-0.01, 0.0, 0.0]]])
    torch.testing.assert_close(sdf(query), query[..., 2], atol=1e-6, rtol=0)


@pytest.mark.parametrize("given_normals", [True, False])
def test_near_a_sampled_sphere_it_matches_the_true_signed_distance(given_normals):
    radius = 0.04
    points = sphere(3000, radius)
    sdf = CloudSDF(points, points / radius if given_normals else None)
    query = sphere(500, 1.0, seed=1) * (radius + torch.linspace(-0.008, 0.008, 500)[:, None])  # within 8 mm
    truth = query.norm(dim=-1) - radius
    error = (sdf(query[None])[0] - truth).abs()
    assert error.max() < 5e-4 and error.mean() < 1.5e-4  # 3,000 points are ~1.3 mm apart on this sphere
    assert (torch.sign(sdf(query[None])[0]) == torch.sign(truth))[truth.abs() > 1e-3].all()


def test_estimated_normals_point_out_of_a_sphere_and_of_a_single_view_of_it():
    points = sphere(2000)
    assert (estimate_normals(points) * points / 0.04).sum(-1).min() > 0.97
    cap = points[points[:, 2] > 0.01]  # what a camera above sees
    assert (estimate_normals(cap) * cap / 0.04).sum(-1).min() > 0.9


def test_points_far_from_a_partial_cloud_count_as_outside():
    """A hand point under a camera's view of a sphere's top lies inside the sphere, but nothing of the cloud is
    near it: the planes would call it inside, the cut-off says outside (the cloud cannot know)."""
    cap = sphere(2000)
    cap = cap[cap[:, 2] > 0.02]
    query = torch.tensor([[[0.0, 0.0, -0.035]]])
    assert CloudSDF(cap, cap / 0.04)(query) < 0
    assert CloudSDF(cap, cap / 0.04, max_distance_m=0.03)(query) > 0.03


def test_the_bounded_query_is_exact_below_the_cut_off_and_a_lower_bound_at_or_above_it():
    """Queries all around a camera's view of a sphere: far from the cloud's box (not searched), near the box but
    with no cloud point within the cut-off, with only some of their k neighbours within it, and with all."""
    cap = sphere(2000)
    cap = cap[cap[:, 2] > 0.02]
    sdf = CloudSDF(cap, cap / 0.04, max_distance_m=0.03)
    query = (torch.rand(1, 4000, 3, generator=torch.Generator().manual_seed(3)) - 0.5) * 0.2  # a 20 cm cube
    exact, bounded = sdf(query)[0], sdf.bounded(query)[0]
    nearest = torch.cdist(query[0], cap).topk(sdf.neighbors, largest=False).values  # (Q, k) ascending
    low, high = cap.amin(0), cap.amax(0)
    beyond_box = (query[0] - query[0].clamp(low, high)).norm(dim=-1) >= 0.03
    none_near = ~beyond_box & (nearest[:, 0] >= 0.03)
    some_near = (nearest[:, 0] < 0.03) & (nearest[:, -1] >= 0.03)
    assert min(beyond_box.sum(), none_near.sum(), some_near.sum(), (nearest[:, -1] < 0.03).sum()) >= 10
    below = exact < 0.03
    assert torch.equal(bounded[below], exact[below])
    assert (bounded[~below] >= 0.03).all() and (bounded[~below] <= exact[~below] + 1e-7).all()
    assert torch.equal(CloudSDF(cap, cap / 0.04).bounded(query), CloudSDF(cap, cap / 0.04)(query))  # no cut-off


def test_one_neighbour_is_the_nearest_point_plane_distance():
    points = sphere(800)
    normals = estimate_normals(points)
    query = sphere(50, 0.05, seed=2)
    nearest = torch.cdist(query, points).argmin(-1)
    expected = ((query - points[nearest]) * normals[nearest]).sum(-1)
    torch.testing.assert_close(CloudSDF(points, normals, neighbors=1)(query[None])[0], expected)


def test_coincident_points_give_finite_distances_and_bad_inputs_clear_errors():
    same = torch.zeros(50, 3)
    assert torch.isfinite(CloudSDF(same)(torch.randn(1, 10, 3) * 0.01)).all()
    with pytest.raises(ValueError, match="normals must match"):
        CloudSDF(sphere(10), torch.zeros(9, 3))
    with pytest.raises(ValueError, match="NaN"):
        CloudSDF(torch.full((10, 3), float("nan")))
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        CloudSDF(sphere(10))(torch.zeros(10, 3))
