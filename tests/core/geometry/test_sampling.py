import numpy as np
import pytest
import torch

from flash_core.geometry.sampling import farthest_point_sample


def greedy_fps_reference(cloud: np.ndarray, num_samples: int, start: int) -> list[int]:
    """Textbook greedy FPS: each pick maximises its distance to the nearest point already picked."""
    picked = [start]
    for _ in range(num_samples - 1):
        dist_to_set = np.min(np.linalg.norm(cloud[:, None] - cloud[picked][None], axis=-1), axis=1)
        picked.append(int(np.argmax(dist_to_set)))
    return picked


@pytest.mark.parametrize("backend", ["torch", "fpsample"])
def test_fps_matches_greedy_reference(backend):
    points = torch.rand(3, 300, 3, dtype=torch.float64)
    idx = farthest_point_sample(points, 40, start_index=7, backend=backend)
    assert idx.shape == (3, 40) and idx.dtype == torch.int64
    for b in range(3):
        assert idx[b].tolist() == greedy_fps_reference(points[b].numpy(), 40, 7)


def test_fps_backends_agree_and_are_deterministic():
    points = torch.rand(4, 1000, 3)
    a = farthest_point_sample(points, 128, backend="torch")
    b = farthest_point_sample(points, 128, backend="fpsample")
    assert torch.equal(a, b)
    assert torch.equal(a, farthest_point_sample(points, 128, backend="auto"))


def test_fps_spreads_points_better_than_random():
    points = torch.rand(1, 2000, 3)
    idx = farthest_point_sample(points, 64)
    assert len(set(idx[0].tolist())) == 64

    def min_gap(sel: torch.Tensor) -> float:
        d = torch.cdist(sel, sel)
        return float(d[~torch.eye(len(sel), dtype=torch.bool)].min())

    fps_gap = min_gap(points[0, idx[0]])
    random_gaps = [min_gap(points[0, torch.randperm(2000)[:64]]) for _ in range(20)]
    assert fps_gap > max(random_gaps)


def test_fps_bad_input():
    with pytest.raises(ValueError, match="num_samples"):
        farthest_point_sample(torch.rand(1, 10, 3), 11)
    with pytest.raises(ValueError, match="NaN"):
        farthest_point_sample(torch.full((1, 10, 3), float("nan")), 2)
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        farthest_point_sample(torch.rand(10, 3), 2)
    with pytest.raises(ValueError, match="empty"):
        farthest_point_sample(torch.rand(1, 0, 3), 1)
    with pytest.raises(ValueError, match="backend"):
        farthest_point_sample(torch.rand(1, 10, 3), 2, backend="magic")
