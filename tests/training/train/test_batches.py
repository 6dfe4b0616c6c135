"""Data order, sharding, distinct clouds and the cloud cache (on the real data set reader and PointNet++)."""

import numpy as np
import pytest
import torch
from flash_training.data.dataset import FlashDriveDataset
from flash_training.train.batches import (
    STEP_STREAM,
    CloudCache,
    DataOrder,
    cloud_turns,
    collate_items,
    epoch_batches,
    flow_batch,
    step_noise,
)
from flash_training.train.distributed import ProcessGroup

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.generator import model_cloud_index
from flash_core.geometry.cloud_sdf import estimate_normals
from flash_core.geometry.rotations import rotate_hand_states, yaw_matrix
from flash_core.hands import make_hand
from flash_core.model.pointnet2 import PointNet2, SetAbstractionSpec


def test_batches_hold_whole_chunks_of_few_objects_each_item_once_an_epoch_and_resume_anywhere():
    item_objects = np.repeat(np.arange(4), 9)  # 4 objects x 9 grasps
    order = DataOrder(item_objects, batch_size=8, seed=3, objects_per_batch=2)
    assert order.rows_per_chunk == 4 and order.batches_per_epoch == 4 and order.position(9) == (2, 1)
    epoch_one = np.stack([order.global_batch(s) for s in range(4, 8)])  # (4, 8)
    assert len(set(epoch_one.ravel().tolist())) == 32
    chunks = item_objects[epoch_one.reshape(-1, 4)]  # the object of every row, chunk by chunk
    assert (chunks == chunks[:, :1]).all()  # a chunk is one object's grasps
    assert not np.array_equal(order.global_batch(0), order.global_batch(4))  # a new draw every epoch
    whole = [b for _, batches in epoch_batches(order, 0, 11, slice(None)) for b in batches]
    fresh = DataOrder(item_objects, 8, 3, 2)
    assert [b for _, batches in epoch_batches(fresh, 6, 11, slice(None)) for b in batches] == whole[6:]
    plain = DataOrder(item_objects, 8, 3)  # a plain shuffle
    assert plain.rows_per_chunk == 1 and len(set(np.concatenate([plain.global_batch(s) for s in range(4)]))) == 32
    with pytest.raises(ValueError, match="fewer than one batch"):
        DataOrder(np.zeros(5, int), batch_size=8, seed=0)
    with pytest.raises(ValueError, match="multiple of data.objects_per_batch"):
        DataOrder(item_objects, batch_size=8, seed=0, objects_per_batch=3)


def test_processes_take_equal_slices_of_whole_chunks_and_of_the_same_noise():
    hand = make_hand("leap", num_surface_points=128, allow_primitives=True)
    sampler = InitialStateSampler.from_hand(hand)
    order = DataOrder(np.repeat(np.arange(5), 8), 8, 0, objects_per_batch=2)
    slices = [order.rank_rows(ProcessGroup(rank, 2)) for rank in range(2)]
    assert slices == [slice(0, 4), slice(4, 8)]  # one chunk each
    assert np.array_equal(np.concatenate([order.global_batch(5)[s] for s in slices]), order.global_batch(5))
    whole_x0, whole_t = step_noise(sampler, 0, STEP_STREAM, 5, 8, slice(None))
    parts = [step_noise(sampler, 0, STEP_STREAM, 5, 8, s) for s in slices]
    torch.testing.assert_close(torch.cat([p[0] for p in parts]), whole_x0)
    torch.testing.assert_close(torch.cat([p[1] for p in parts]), whole_t)
    assert not torch.equal(whole_t, step_noise(sampler, 0, STEP_STREAM, 6, 8, slice(None))[1])
    with pytest.raises(ValueError, match="does not split evenly over 4 processes"):
        order.rank_rows(ProcessGroup(0, 4))


def test_a_batch_keeps_each_distinct_cloud_once_and_the_cache_prepares_it_like_inference(tiny_drive):
    dataset = FlashDriveDataset(tiny_drive, "train", partial_view_probability=0.5)
    items = [dataset[i] for i in range(len(dataset))]
    batch = collate_items(items)
    keys = {(it["object_index"], it["view"]) for it in items}
    assert len(batch.cloud_keys) == len(keys) < len(items)
    for row, item in enumerate(items):  # every row finds its own cloud
        assert torch.equal(batch.clouds[batch.cloud_index[row]], item["object_points"])
    shared = collate_items(items[:8], rows_per_chunk=4)  # rows 0-3 take row 0's cloud, rows 4-7 row 4's
    for row in range(8):
        assert torch.equal(shared.clouds[shared.cloud_index[row]], items[row // 4 * 4]["object_points"])
    torch.manual_seed(0)
    pointnet = PointNet2((SetAbstractionSpec(64, 0.03, 16, 32), SetAbstractionSpec(16, 0.08, 16, 32)))
    cache = CloudCache(pointnet, num_points=256, max_entries=100, device=torch.device("cpu"), normals=True)
    noise = torch.zeros(len(items), 25), torch.full((len(items),), 0.5)
    flow = flow_batch(batch, cache, *noise, use_semantics=False)
    again = flow_batch(collate_items(items[::-1]), cache, *noise, use_semantics=False)
    assert cache.misses == len(keys) and cache.hits == len(keys)
    for u, cloud in enumerate(batch.clouds):
        expected = cloud[model_cloud_index(cloud, 256)] - cloud.mean(0)  # GraspGenerator.prepare_goals' frame
        torch.testing.assert_close(flow.object_points[u], expected)
    for cloud, normals in zip(flow.object_points, flow.object_normals):  # what the model would estimate itself
        torch.testing.assert_close(normals, estimate_normals(cloud), atol=1e-4, rtol=0)
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


def test_turned_clouds_turn_with_their_grasps_and_keep_the_cached_grouping(tiny_drive):
    dataset = FlashDriveDataset(tiny_drive, "train", partial_view_probability=0.5)
    batch = collate_items([dataset[i] for i in range(len(dataset))])
    turns = cloud_turns(seed=3, step=7, keys=batch.cloud_keys)  # (U,)
    assert torch.equal(turns, cloud_turns(3, 7, batch.cloud_keys))  # a function of (seed, step, key) ...
    assert torch.equal(cloud_turns(3, 7, batch.cloud_keys.flip(0)), turns.flip(0))  # ... whatever the order
    assert not torch.equal(cloud_turns(3, 8, batch.cloud_keys), turns)
    assert len(turns.unique()) == len(turns) and turns.min() >= 0 and turns.max() < 2 * np.pi
    torch.manual_seed(0)
    pointnet = PointNet2((SetAbstractionSpec(64, 0.03, 16, 32), SetAbstractionSpec(16, 0.08, 16, 32)))
    cache = CloudCache(pointnet, num_points=256, max_entries=100, device=torch.device("cpu"), normals=True)
    noise = torch.zeros(len(batch.prompts), 25), torch.full((len(batch.prompts),), 0.5)
    plain = flow_batch(batch, cache, *noise, use_semantics=False)
    turned = flow_batch(batch, cache, *noise, use_semantics=False, turns_rad=turns)
    rotation = yaw_matrix(turns).float()  # (U, 3, 3)
    torch.testing.assert_close(turned.object_points, plain.object_points @ rotation.transpose(1, 2))
    torch.testing.assert_close(turned.object_normals, plain.object_normals @ rotation.transpose(1, 2))
    torch.testing.assert_close(turned.grasps, rotate_hand_states(plain.grasps, rotation[batch.cloud_index]))
    assert not torch.allclose(turned.grasps[:, :3], plain.grasps[:, :3], atol=1e-3)
    # The same hand-to-cloud geometry: every grasp's wrist keeps its distances to its own cloud's points.
    for row, u in enumerate(batch.cloud_index.tolist()):
        torch.testing.assert_close(torch.cdist(turned.grasps[row, None, :3], turned.object_points[u]),
                                   torch.cdist(plain.grasps[row, None, :3], plain.object_points[u]), atol=1e-5, rtol=0)
    fresh = pointnet.group(turned.object_points)  # grouping depends on distances alone: the cache's still holds
    for cached, computed in zip(turned.object_grouping, fresh):
        assert torch.equal(cached.centroid_index, computed.centroid_index)
        assert torch.equal(cached.neighbor_index, computed.neighbor_index)
