"""Storage round trip, resume without duplicates, splits and the torch Dataset view."""

import json

import numpy as np
import pytest
import torch
from flash_training.data.dataset import FlashDriveDataset
from flash_training.data.splits import SplitConfig, object_split
from flash_training.data.storage import DatasetReader, DatasetWriter, GraspBatch, StoredObject, merge_parts
from flash_training.data.views import PartialViews

N_POINTS = 64
CONFIG = {"preset": "unit-test"}
SPLITS = SplitConfig(unseen_category_fraction=0.0, unseen_object_fraction=0.0, seen_grasp_fraction=0.3)
N_VIEWS = 3


def make_views(points: np.ndarray, rng: np.random.Generator) -> PartialViews:
    """K "views" that are subsets of the full cloud (each a half-space of it, repeated up to N points)."""
    nearest = np.stack([np.flatnonzero(points[:, k % 3] > 0)[np.arange(N_POINTS) % 8] for k in range(N_VIEWS)])
    return PartialViews(
        points=points[nearest],
        normals=np.tile([0.0, 0.0, 1.0], (N_VIEWS, N_POINTS, 1)).astype(np.float32),
        point_parts=rng.integers(0, 2, (N_VIEWS, N_POINTS)),
        nearest=nearest,
        cam_to_object=np.tile(np.eye(4), (N_VIEWS, 1, 1)),
        visible_points=np.full(N_VIEWS, 8),
    )


def make_object(object_id: str, rng: np.random.Generator, views: bool = True) -> StoredObject:
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
        semantic=points * 10,  # a feature per point that says which point it is
        views=make_views(points, rng) if views else None,
    )


def make_batch(object_id: str, hand: str, count: int, rng: np.random.Generator) -> GraspBatch:
    return GraspBatch(
        object_id=object_id,
        hand=hand,
        x=rng.normal(size=(count, 25)).astype(np.float32),
        finger_part=rng.integers(-1, 2, (count, 4)),
        finger_distance_m=rng.uniform(0, 0.01, (count, 4)),
        penetration_m=rng.uniform(0, 0.002, count),
        text=[{"low": [f"{object_id} {hand} {i} low"], "mid": ["m", "m2"], "high": ["h"]} for i in range(count)],
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


def test_bad_views_and_text_are_refused(tmp_path):
    rng = np.random.default_rng(5)
    obj = make_object("procedural/a", rng)
    obj.views.nearest[0, 0] = N_POINTS
    with pytest.raises(ValueError, match="nearest"):
        obj.arrays()
    obj = make_object("procedural/a", rng)
    obj.views.points = obj.views.points[:, :10]
    with pytest.raises(ValueError, match="as many points as the full cloud"):
        obj.arrays()
    batch = make_batch("procedural/a", "leap", 2, rng)
    bad_texts = (
        {"low": "a string", "mid": ["m"], "high": ["h"]},
        {"low": ["l"], "mid": ["m"]},
        {"low": [""], "mid": ["m"], "high": ["h"]},
    )
    for bad in bad_texts:
        with pytest.raises(ValueError, match="non-empty lists"):
            GraspBatch(batch.object_id, "leap", batch.x[:1], batch.finger_part[:1], batch.finger_distance_m[:1],
                       batch.penetration_m[:1], [bad])


def test_items_draw_partial_views_and_paraphrases_per_epoch(tmp_path):
    rng = np.random.default_rng(6)
    writer = DatasetWriter(tmp_path, CONFIG, SPLITS)
    writer.register_hand("leap", ["a", "b", "c", "d"], ["j"] * 16)
    fill(writer, rng, ["procedural/a"], ["leap"], count=30)
    writer.close()
    reader = DatasetReader(tmp_path)
    assert reader.objects[0]["views"] == N_VIEWS
    assert reader.paraphrases(0)["mid"] == ["m", "m2"] and reader.text(0)["mid"] == "m"

    full = FlashDriveDataset(tmp_path, "all", text_level="mid", paraphrases=False)
    assert {full[i]["view"] for i in range(30)} == {-1} and {full[i]["prompt"] for i in range(30)} == {"m"}
    data = FlashDriveDataset(tmp_path, "all", text_level="mid", partial_view_probability=0.5)
    items = [data[i] for i in range(30)]
    views = [item["view"] for item in items]
    assert set(views) == {-1, 0, 1, 2}  # full clouds and every stored view
    assert {item["prompt"] for item in items} == {"m", "m2"}
    arrays = reader.object_arrays(0)
    for item in items:
        if item["view"] >= 0:
            np.testing.assert_array_equal(item["object_points"], arrays["view_points"][item["view"]])
            np.testing.assert_array_equal(item["part_labels"], arrays["view_point_parts"][item["view"]])
            # Semantic features follow the view's points (here each feature is 10x its point).
            np.testing.assert_allclose(item["semantic"], item["object_points"] * 10, rtol=1e-3, atol=1e-3)
        assert item["object_points"].shape == (N_POINTS, 3)
    assert [data[i]["view"] for i in range(30)] == views  # reproducible within an epoch
    data.set_epoch(1)
    assert [data[i]["view"] for i in range(30)] != views  # drawn afresh in the next
    with pytest.raises(ValueError, match="partial_view_probability"):
        FlashDriveDataset(tmp_path, partial_view_probability=1.5)


def test_partial_views_need_stored_views(tmp_path):
    rng = np.random.default_rng(7)
    writer = DatasetWriter(tmp_path, CONFIG, SPLITS)
    writer.register_hand("leap", ["a", "b", "c", "d"], ["j"] * 16)
    writer.add_object(make_object("procedural/a", rng, views=False))
    writer.close()
    assert FlashDriveDataset(tmp_path, "all") is not None
    with pytest.raises(ValueError, match="no.*stored|none stored"):
        FlashDriveDataset(tmp_path, "all", partial_view_probability=0.1)


def test_parts_merge_into_one_data_set(tmp_path):
    rng = np.random.default_rng(8)
    hands = {0: ["leap", "allegro"], 1: ["allegro", "leap"]}  # registered in another order: indices renumbered
    written = {}
    for part in (0, 1):
        writer = DatasetWriter(tmp_path / f"p{part}", CONFIG, SPLITS, shard_size=6, part=(part, 2))
        for hand in hands[part]:
            writer.register_hand(hand, ["a", "b", "c", "d"], ["j"] * 16)
        writer.record_skip(f"user/broken{part}", "degenerate")
        written.update(fill(writer, rng, [f"procedural/o{part}{k}" for k in range(2)], hands[part], count=4))
        writer.close()
    with pytest.raises(ValueError, match="holds build part"):
        DatasetWriter(tmp_path / "p0", CONFIG, SPLITS, part=(1, 2))
    with pytest.raises(ValueError, match="every part"):
        merge_parts([tmp_path / "p0"], tmp_path / "lonely")

    merged = DatasetReader(merge_parts([tmp_path / "p1", tmp_path / "p0"], tmp_path / "all"))
    assert "part" not in merged.manifest and len(merged) == 32 and merged.hands == ["leap", "allegro"]
    assert set(merged.manifest["skipped_objects"]) == {"user/broken0", "user/broken1"}
    for index in range(len(merged)):
        object_id = merged.objects[merged.grasp_object[index]]["object_id"]
        key = f"{object_id}|{merged.hands[merged.grasp_hand[index]]}"
        row = int(merged.text(index)["low"].split()[2])
        assert merged.text(index)["low"].startswith(key.replace("|", " "))
        np.testing.assert_array_equal(merged.grasp_x(index), written[key].x[row])
    np.testing.assert_array_equal(
        merged.object_arrays(3)["view_points"], DatasetReader(tmp_path / "p1").object_arrays(1)["view_points"]
    )
    with pytest.raises(FileExistsError):
        merge_parts([tmp_path / "p0", tmp_path / "p1"], tmp_path / "all")
    other = DatasetWriter(tmp_path / "q1", {"preset": "other"}, SPLITS, part=(1, 2))
    other.close()
    with pytest.raises(ValueError, match="another configuration"):
        merge_parts([tmp_path / "p0", tmp_path / "q1"], tmp_path / "mixed")
