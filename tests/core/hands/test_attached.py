"""LinkAttachedPoints (chunked bmm) against a per-point brute force."""

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from flash_core.hands.attached import CHUNK, LinkAttachedPoints


def test_move_matches_per_point_transform_in_original_order():
    rng = np.random.default_rng(0)
    num_links, batch = 5, 3
    # Unsorted links, one link with several chunks, one with a single point, one (link 2) with none.
    link_index = rng.choice([0, 1, 3, 4], size=3 * CHUNK + 7, p=[0.7, 0.1, 0.1, 0.1])
    link_index[-1] = 3
    points = rng.normal(size=(len(link_index), 3))
    poses = torch.eye(4, dtype=torch.float64).repeat(batch, num_links, 1, 1)
    poses[..., :3, :3] = torch.as_tensor(Rotation.random(batch * num_links, random_state=1).as_matrix()).view(
        batch, num_links, 3, 3)
    poses[..., :3, 3] = torch.as_tensor(rng.normal(size=(batch, num_links, 3)))

    expected_points = torch.einsum("bnij,nj->bni", poses[:, link_index, :3, :3], torch.as_tensor(points))
    expected_points = expected_points + poses[:, link_index, :3, 3]
    moved = LinkAttachedPoints(points, link_index, torch.float64, torch.device("cpu")).move(poses)
    torch.testing.assert_close(moved, expected_points)

    directions = LinkAttachedPoints(points, link_index, torch.float64, torch.device("cpu"), w=0.0).move(poses)
    torch.testing.assert_close(directions, expected_points - poses[:, link_index, :3, 3])


def test_move_is_differentiable_like_the_brute_force():
    rng = np.random.default_rng(2)
    link_index = rng.integers(0, 3, size=50)
    points = rng.normal(size=(50, 3))
    poses = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 50, 3, dtype=torch.float64)
    attached = LinkAttachedPoints(points, link_index, torch.float64, torch.device("cpu"))
    (attached.move(poses) * weights).sum().backward()
    chunked = poses.grad.clone()
    poses.grad = None
    brute = torch.einsum("bnij,nj->bni", poses[:, link_index, :3, :3], torch.as_tensor(points))
    brute = brute + poses[:, link_index, :3, 3]
    (brute * weights).sum().backward()
    torch.testing.assert_close(chunked, poses.grad)
