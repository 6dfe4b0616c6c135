"""Data order, sharding, distinct clouds and the cloud cache (on the real data set reader and PointNet++)."""

import numpy as np
import pytest
import torch
from flash_training.data.dataset import FlashDriveDataset
from flash_training.train.batches import (
    STEP_STREAM,
    CloudCache,
    DataOrder,
    collate_items,
    epoch_batches,
    flow_batch,
    rank_rows,
    step_noise,
)
from flash_training.train.distributed import ProcessGroup

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.generator import model_cloud_index
from flash_core.hands import make_hand
from flash_core.model.pointnet2 import PointNet2, SetAbstractionSpec


def test_every_epoch_visits_each_item_at_most_once_and_steps_resume_anywhere():
    order = DataOrder(num_items=35, batch_size=8, seed=3)
    assert order.batches_per_epoch == 4 and order.position(9) == (2, 1)
    epoch_one = np.concatenate([order.global_batch(s) for s in range(4, 8)])
    assert len(set(epoch_one.tolist())) == 32 and epoch_one.max() < 35
    assert not np.array_equal(order.global_batch(0), order.global_batch(4))  # a new permutation per epoch
    whole = [b for _, batches in epoch_batches(order, 0, 11, slice(None)) for b in batches]
    resumed = [b for _, batches in epoch_batches(DataOrder(35, 8, 3), 6, 11, slice(None)) for b in batches]
    assert resumed == whole[6:]
    with pytest.raises(ValueError, match="fewer than one batch"):
        DataOrder(num_items=5, batch_size=8, seed=0)


def test_processes_take_equal_slices_of_the_same_global_batch_and_noise():
    hand = make_hand("leap", num_surface_points=128, allow_primitives=True)
    sampler = InitialStateSampler.from_hand(hand)
    order = DataOrder(40, 8, 0)
    groups = [ProcessGroup(rank, 2) for rank in range(2)]
    slices = [rank_rows(8, g) for g in groups]
    assert np.array_equal(np.concatenate([order.global_batch(5)[s] for s in slices]), order.global_batch(5))
    whole_x0, whole_t = step_noise(sampler, 0, STEP_STREAM, 5, 8, slice(None))
    parts = [step_noise(sampler, 0, STEP_STREAM, 5, 8, s) for s in slices]
    torch.testing.assert_close(torch.cat([p[0] for p in parts]), whole_x0)
    torch.testing.assert_close(torch.cat([p[1] for p in parts]), whole_t)
    assert not torch.equal(whole_t, step_noise(sampler, 0, STEP_STREAM, 6, 8, slice(None))[1])
    with pytest.raises(ValueError, match="does not split evenly"):
        rank_rows(9, groups[0])


def test_a_batch_keeps_each_distinct_cloud_once_and_the_cache_prepares_it_like_inference(tiny_drive):
    dataset = FlashDriveDataset(tiny_drive, "train", partial_view_probability=0.5)
    items = [dataset[i] for i in range(len(dataset))]
    batch = collate_items(items)
    keys = {(it["object_index"], it["view"]) for it in items}
    assert len(batch.cloud_keys) == len(keys) < len(items)
    for row, item in enumerate(items):  # every row finds its own cloud
        assert torch.equal(batch.clouds[batch.cloud_index[row]], item["object_points"])
    torch.manual_seed(0)
    pointnet = PointNet2((SetAbstractionSpec(64, 0.03, 16, 32), SetAbstractionSpec(16, 0.08, 16, 32)))
    cache = CloudCache(pointnet, num_points=256, max_entries=100, device=torch.device("cpu"))
    noise = torch.zeros(len(items), 25), torch.full((len(items),), 0.5)
    flow = flow_batch(batch, cache, *noise, use_semantics=False)
    again = flow_batch(collate_items(items[::-1]), cache, *noise, use_semantics=False)
    assert cache.misses == len(keys) and cache.hits == len(keys)
    for u, cloud in enumerate(batch.clouds):
        expected = cloud[model_cloud_index(cloud, 256)] - cloud.mean(0)  # GraspGenerator.prepare_goals' frame
        torch.testing.assert_close(flow.object_points[u], expected)
    fresh = pointnet.group(flow.object_points)
    for cached, computed in zip(flow.object_grouping, fresh):
        assert torch.equal(cached.centroid_index, computed.centroid_index)
        assert torch.equal(cached.neighbor_index, computed.neighbor_index)
    centres = batch.clouds.mean(1)[batch.cloud_index]
    torch.testing.assert_close(flow.grasps[:, :3], batch.grasps[:, :3] - centres)
    torch.testing.assert_close(flow.grasps[:, 3:], batch.grasps[:, 3:])
    assert torch.equal(again.object_points, flow.object_points)  # served from the cache
    changed = collate_items(items[:1])
    changed.clouds = changed.clouds + 0.01
    with pytest.raises(ValueError, match="changed between steps"):
        cache.prepare(changed.cloud_keys, changed.clouds)
