"""The tiny preset end to end: interrupted, resumed, no duplicates; kept grasps re-checked with trimesh."""

import json
from dataclasses import replace

import numpy as np
import pytest
import trimesh
from flash_training.data import build as build_module
from flash_training.data.build import PRESETS, SourceSpec, build_dataset
from flash_training.data.dataset import FlashDriveDataset
from flash_training.data.objects import ProceduralSource
from flash_training.data.processing import process_object
from flash_training.data.storage import DatasetReader, unit_key

from flash_core.hands import make_hand
from flash_core.hands.collision import hand_collision

# Every unit its own shard (an interruption keeps finished units), and the simulated acceptance stage on.
CONFIG = replace(PRESETS["tiny"], shard_size=1, simulate=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    (root / "broken").mkdir()
    (root / "broken" / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")  # a degenerate mesh
    config = replace(CONFIG, sources=CONFIG.sources + (SourceSpec("user", {"root": str(root / "broken")}),),
                     keep_rejected=True)
    out = root / "data"

    calls = []
    original = build_module.DatasetBuilder._build_unit

    def crash_on_third(self, obj, hand_name):
        calls.append((obj.asset.object_id, hand_name))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C in the middle of the build
        original(self, obj, hand_name)

    mp = pytest.MonkeyPatch()
    mp.setattr(build_module.DatasetBuilder, "_build_unit", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(out, config)
    stored = [u for shard in DatasetReader(out).manifest["shards"] for u in shard["units"]]
    with pytest.raises(FileExistsError, match="--resume"):
        build_dataset(out, config)
    build_dataset(out, config, resume=True)
    mp.undo()
    return out, calls, stored


def test_resume_finishes_only_what_was_missing(built):
    out, calls, stored = built
    # 4 units (2 objects x 2 hands) and the broken mesh's; the 3rd is interrupted. A unit is stored once its shard
    # is written (every grasp-holding unit here; one that kept none waits for the next), and the resume does
    # exactly the units not stored, in order.
    keys = [unit_key(*call) for call in calls]
    before, resumed = keys[:3], keys[3:]
    assert before[2] not in stored and set(stored) <= set(before[:2])
    assert resumed[: 3 - len(stored)] == [k for k in before if k not in stored]
    assert not set(resumed) & set(stored) and len(resumed) == len(set(resumed))
    reader = DatasetReader(out)
    units = [u for shard in reader.manifest["shards"] for u in shard["units"]]
    assert len(units) == len(set(units)) == 4
    keys = {
        (int(o), int(h), tuple(reader.grasp_x(i)))
        for i, (o, h) in enumerate(zip(reader.grasp_object, reader.grasp_hand, strict=False))
    }
    assert len(keys) == len(reader) > 0  # no grasp stored twice


def test_broken_mesh_is_skipped_with_its_reason_in_the_report(built):
    out, _, _ = built
    manifest = json.loads((out / "manifest.json").read_text())
    assert "degenerate" in manifest["skipped_objects"]["user/flat"]
    report = (out / "report.md").read_text()
    assert "user/flat" in report and "Rejected candidates" in report
    assert (out / "penetration.png").stat().st_size > 1000 and (out / "contact_distance.png").exists()


def test_kept_grasps_meet_the_quality_bar_by_an_independent_measure(built):
    out, _, _ = built
    reader = DatasetReader(out)
    hands = {name: make_hand(name) for name in reader.hands}
    import torch

    assert len(reader) > 0
    for object_index, entry in enumerate(reader.objects):
        name = entry["object_id"].split("/", 1)[1]
        mesh = process_object(ProceduralSource(**CONFIG.sources[0].options).load(name), CONFIG.processing).asset.mesh
        for hand_index, hand_name in enumerate(reader.hands):
            rows = np.flatnonzero((reader.grasp_object == object_index) & (reader.grasp_hand == hand_index))
            if len(rows) == 0:  # a unit may keep none (tiny has few candidates)
                continue
            x = torch.as_tensor(np.stack([reader.grasp_x(i) for i in rows]))
            # trimesh's signed distance (positive inside) of points on the hand's collision surface, the surface
            # the acceptance test measures (the LEAP's visual pads stand up to 3 mm proud of it).
            points = hand_collision(hands[hand_name]).surface_points(x).detach().numpy()
            depth = np.array([np.clip(trimesh.proximity.signed_distance(mesh, p), 0, None).max() for p in points])
            assert (depth < 0.002 + 1e-4).all(), (entry["object_id"], hand_name, depth)
            touching = (reader.finger_part[rows] >= 0).sum(1)
            assert (touching >= CONFIG.acceptance.min_contact_fingers).all()


def test_simulated_stage_keeps_only_grasps_that_held(built):
    out, _, _ = built
    reader = DatasetReader(out)
    stats = reader.unit_stats()
    for unit, s in stats.items():
        if "simulated" not in s:  # the broken mesh's unit: nothing to simulate
            continue
        held = sum(r["held"] for r in s["simulated"].values())
        assert s["kept"] == min(held, CONFIG.grasps_per_hand), unit
        assert all(r["held"] or r["reason"] for r in s["simulated"].values())  # every failure says why
    report = (out / "report.md").read_text()
    assert "## Simulated acceptance" in report and "| object split |" in report


def test_dataset_serves_the_build(built):
    out, _, _ = built
    data = FlashDriveDataset(out, "all")
    item = data[0]
    assert item["object_points"].shape == (CONFIG.processing.num_points, 3)
    assert item["semantic"].shape == (CONFIG.processing.num_points, CONFIG.semantic.untrained_hidden_size)
    assert item["x"].shape == (25,) and isinstance(item["prompt"], str) and item["prompt"]
    # Stored partial views serve the same N points (and features), and every grasp has several wordings.
    partial = FlashDriveDataset(out, "all", partial_view_probability=1.0)[0]
    assert partial["view"] in range(CONFIG.views.views)
    assert partial["object_points"].shape == item["object_points"].shape
    assert partial["semantic"].shape == item["semantic"].shape
    wordings = data.reader.paraphrases(0)
    assert all(len(set(w)) == len(w) >= 2 for w in wordings.values())


def test_rejected_candidates_are_kept_with_their_reasons(built):
    out, _, _ = built
    for unit, stats in DatasetReader(out).unit_stats().items():
        rejected = stats["rejected_candidates"]
        assert len(rejected) == stats["candidates"] - stats["passing"], unit
        counts = {}
        for candidate in rejected:
            assert len(candidate["x"]) == 25 and candidate["reason"]
            counts[candidate["reason"]] = counts.get(candidate["reason"], 0) + 1
        assert counts == stats["rejected"]
        assert len(stats["after"]["self_penetration_m"]) == stats["candidates"]
