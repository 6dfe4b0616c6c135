"""Storage round trip, resume without duplicates, splits and the torch Dataset view."""

import json

import numpy as np
import pytest
import torch
from flash_training.data.dataset import FlashDriveDataset
from flash_training.data.splits import SplitConfig, object_split
from flash_training.data.storage import DatasetReader, DatasetWriter, GraspBatch, StoredObject

N_POINTS = 64
CONFIG = {"preset": "unit-test"}
SPLITS = SplitConfig(unseen_category_fraction=0.0, unseen_object_fraction=0.0, seen_grasp_fraction=0.3)


def make_object(object_id: str, rng: np.random.Generator) -> StoredObject:
    points = rng.normal(size=(N_POINTS, 3)).astype(np.float32)
    return StoredObject(
        object_id=object_id,
        category="mug",
        part_names=("body", "handle"),
        source="test",
        licence="none",
        split="train",
        points=points,
        normals=points / np.linalg.norm(points, axis=1, keepdims=True),
        point_parts=rng.integers(0, 2, N_POINTS),
        sdf=rng.normal(size=(8, 8, 8)).astype(np.float32),
        sdf_bounds_m=np.array([[-1, -1, -1], [1, 1, 1]], np.float32),
    )


def make_batch(object_id: str, hand: str, count: int, rng: np.random.Generator) -> GraspBatch:
    return GraspBatch(
        object_id=object_id,
        hand=hand,
        x=rng.normal(size=(count, 25)).astype(np.float32),
        finger_part=rng.integers(-1, 2, (count, 4)),
        finger_distance_m=rng.uniform(0, 0.01, (count, 4)),
        penetration_m=rng.uniform(0, 0.002, count),
        text=[{"low": f"{object_id} {hand} {i} low", "mid": "m", "high": "h"} for i in range(count)],
    )


def fill(writer: DatasetWriter, rng, objects, hands, count=5):
    written = {}
    for object_id in objects:
        if not writer.has_object(object_id):
            writer.add_object(make_object(object_id, rng))
        for hand in hands:
            if writer.is_done(object_id, hand):
                continue
            batch = make_batch(object_id, hand, count, rng)
            writer.add_unit(batch, {"kept": count})
            written[batch.unit_key] = batch
    return written


def test_round_trip_keeps_every_value(tmp_path):
    rng = np.random.default_rng(0)
    writer = DatasetWriter(tmp_path, CONFIG, SPLITS, shard_size=7)
    for hand in ("leap", "allegro"):
        writer.register_hand(hand, ["index", "middle", "ring", "thumb"], [f"j{i}" for i in range(16)])
    written = fill(writer, rng, ["procedural/a", "procedural/b"], ["leap", "allegro"])
    writer.close()

    reader = DatasetReader(tmp_path)
    assert len(reader) == 20
    assert len(reader.manifest["shards"]) > 1  # shard_size forced several shards
    for index in range(len(reader)):
        key = f"{reader.objects[reader.grasp_object[index]]['object_id']}|{reader.hands[reader.grasp_hand[index]]}"
        row = int(reader.text(index)["low"].split()[2])
        np.testing.assert_array_equal(reader.grasp_x(index), written[key].x[row])
        np.testing.assert_array_equal(reader.finger_part[index, :4], written[key].finger_part[row])
        assert np.isnan(reader.finger_distance_m[index, 4])  # padding beyond the hand's 4 fingers


def test_interrupted_build_resumes_without_duplicates(tmp_path):
    rng = np.random.default_rng(1)
    objects, hands = [f"procedural/o{i}" for i in range(4)], ["leap", "allegro"]
    writer = DatasetWriter(tmp_path, CONFIG, SPLITS, shard_size=20)
    for hand in hands:
        writer.register_hand(hand, ["a", "b", "c", "d"], ["j"] * 16)
    fill(writer, rng, objects[:3], hands)
    # No close(): the run "crashes" with queued units that never reached a shard.
    finished = {u for s in json.loads((tmp_path / "manifest.json").read_text())["shards"] for u in s["units"]}
    assert 0 < len(finished) < 6

    resumed = DatasetWriter(tmp_path, CONFIG, SPLITS, shard_size=10)
    redone = fill(resumed, rng, objects, hands)
    resumed.close()
    assert set(redone).isdisjoint(finished)

    reader = DatasetReader(tmp_path)
    keys = [(reader.text(i)["low"]) for i in range(len(reader))]
    assert len(keys) == len(set(keys)) == len(objects) * len(hands) * 5
    with pytest.raises(ValueError, match="another configuration"):
        DatasetWriter(tmp_path, {"preset": "other"}, SPLITS)


def test_dataset_items_and_splits(tmp_path):
    rng = np.random.default_rng(2)
    writer = DatasetWriter(tmp_path, CONFIG, SPLITS, shard_size=100)
    writer.register_hand("leap", ["a", "b", "c", "d"], ["j"] * 16)
    fill(writer, rng, ["procedural/a", "procedural/b"], ["leap"], count=20)
    writer.close()

    train, seen = FlashDriveDataset(tmp_path, "train", text_level="low"), FlashDriveDataset(tmp_path, "seen")
    assert len(train) + len(seen) == 40 and len(seen) > 0
    assert set(train.indices).isdisjoint(seen.indices)
    item = train[0]
    assert item["object_points"].shape == (N_POINTS, 3) and item["x"].shape == (25,)
    assert item["part_labels"].dtype == torch.int64 and item["hand"] == "leap" and item["prompt"].endswith("low")
    assert {FlashDriveDataset(tmp_path, "all")[i]["text_level"] for i in range(40)} == {"low", "mid", "high"}
    grid = train.sdf(item["object_index"])
    assert grid.values.shape == (8, 8, 8) and grid(item["object_points"][None]).shape == (1, N_POINTS)
    with pytest.raises(ValueError, match="unknown split"):
        FlashDriveDataset(tmp_path, "validation")


def test_object_splits_hold_out_whole_categories():
    config = SplitConfig(unseen_category_fraction=0.3, unseen_object_fraction=0.3, seed=3)
    categories = [f"c{i}" for i in range(20)]
    splits = {(c, o): object_split(f"{c}/{o}", c, config) for c in categories for o in range(10)}
    unseen_categories = {c for (c, _), s in splits.items() if s == "unseen_category"}
    assert unseen_categories and len(unseen_categories) < len(categories)
    for (c, _), s in splits.items():
        assert (s == "unseen_category") == (c in unseen_categories)
    assert "unseen_object" in splits.values() and "train" in splits.values()
