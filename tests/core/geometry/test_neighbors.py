import pytest
import torch

from flash_core.geometry.neighbors import ball_query, gather_points, group_points, knn


@pytest.mark.parametrize("backend", ["brute", "kdtree"])
def test_knn_matches_brute_force(backend):
    query, reference = torch.rand(2, 200, 3, dtype=torch.float64), torch.rand(2, 300, 3, dtype=torch.float64)
    result = knn(query, reference, k=5, backend=backend, max_pairs_per_chunk=2 * 37 * 300)  # several chunks
    full = torch.cdist(query, reference)
    expected_dist, expected_idx = full.topk(5, dim=-1, largest=False)
    torch.testing.assert_close(result.dist_m, expected_dist)
    assert torch.equal(result.idx, expected_idx)


@pytest.mark.parametrize("backend", ["brute", "kdtree"])
def test_knn_distance_gradcheck(backend):
    query = torch.rand(1, 6, 3, dtype=torch.float64, requires_grad=True)
    reference = torch.rand(1, 9, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda q, r: knn(q, r, k=3, backend=backend).dist_m, (query, reference))


def brute_force_ball(centers, reference, radius, k):
    """Per centre: indices within radius in index order, padded with the first (or 0)."""
    out = []
    for c in centers:
        inside = [j for j, p in enumerate(reference) if float(torch.linalg.vector_norm(p - c)) <= radius][:k]
        out.append(inside + [inside[0] if inside else 0] * (k - len(inside)))
    return torch.tensor(out)


@pytest.mark.parametrize("backend", ["brute", "kdtree"])
def test_ball_query_matches_brute_force_with_padding(backend):
    reference = torch.rand(2, 150, 3, dtype=torch.float64)
    centers = torch.cat([reference[:, :20], torch.full((2, 1, 3), 5.0, dtype=torch.float64)], dim=1)  # one far away
    result = ball_query(
        centers, reference, radius_m=0.2, max_samples=8, backend=backend, max_pairs_per_chunk=2 * 5 * 150
    )
    for b in range(2):
        assert torch.equal(result.idx[b], brute_force_ball(centers[b], reference[b], 0.2, 8))
    assert int(result.counts[0, -1]) == 0 and not bool(result.valid[0, -1].any())
    assert torch.equal(result.counts, result.valid.sum(-1))
    assert bool((result.counts[:, :20] >= 1).all())  # each centre is itself a reference point


@pytest.mark.parametrize("backend", ["brute", "kdtree"])
def test_ball_query_more_samples_than_points(backend):
    reference = torch.rand(1, 4, 3)
    result = ball_query(reference, reference, radius_m=10.0, max_samples=6, backend=backend)
    assert result.idx.shape == (1, 4, 6)
    assert result.idx[0, 0].tolist() == [0, 1, 2, 3, 0, 0]
    assert result.counts.tolist() == [[4, 4, 4, 4]]


def test_gather_and_group():
    points = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    idx = torch.tensor([[[4, 0]], [[1, 1]]])  # (B, M=1, K=2)
    gathered = gather_points(points, idx)
    assert gathered.shape == (2, 1, 2, 3)
    assert torch.equal(gathered[0, 0, 0], points[0, 4]) and torch.equal(gathered[1, 0, 1], points[1, 1])
    centers = points[:, :1]
    assert torch.equal(group_points(points, centers, idx)[0, 0, 0], points[0, 4] - points[0, 0])


def test_neighbors_bad_input():
    with pytest.raises(ValueError, match="batch sizes"):
        knn(torch.rand(1, 5, 3), torch.rand(2, 5, 3), k=1)
    with pytest.raises(ValueError, match="backend"):
        knn(torch.rand(1, 5, 3), torch.rand(1, 5, 3), k=1, backend="octree")
    with pytest.raises(ValueError, match="k must be"):
        knn(torch.rand(1, 5, 3), torch.rand(1, 5, 3), k=6)
    with pytest.raises(ValueError, match="NaN"):
        ball_query(torch.tensor([[[0.0, float("nan"), 0.0]]]), torch.rand(1, 5, 3), 0.1, 4)
    with pytest.raises(ValueError, match="positive"):
        ball_query(torch.rand(1, 5, 3), torch.rand(1, 5, 3), -0.1, 4)


def test_unknown_backend_is_named():
    points = torch.rand(1, 16, 3)
    with pytest.raises(ValueError, match="unknown neighbour backend 'octree'"):
        knn(points, points, k=2, backend="octree")
    with pytest.raises(ValueError, match="unknown neighbour backend 'octree'"):
        ball_query(points, points, radius_m=0.1, max_samples=4, backend="octree")
