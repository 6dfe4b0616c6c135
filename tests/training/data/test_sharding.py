"""Builds split by objects: Ray tasks build the parts, the merge equals an unsplit build; part names are checked."""

from dataclasses import replace

import numpy as np
import pytest
from flash_training.data.build import PRESETS, build_dataset
from flash_training.data.sharding import build_with_ray, parse_part, part_folders
from flash_training.data.storage import DatasetReader

# 2 objects (mug, hammer), one hand, no image features (their model costs each Ray worker seconds): an object a part.
CONFIG = replace(PRESETS["tiny"], hands=("leap",), semantic=None)


def grasps_by_unit(reader: DatasetReader) -> dict[str, np.ndarray]:
    units: dict[str, list] = {}
    for i in range(len(reader)):
        key = f"{reader.objects[reader.grasp_object[i]]['object_id']}|{reader.hands[reader.grasp_hand[i]]}"
        units.setdefault(key, []).append((reader.grasp_x(i), reader.paraphrases(i)))
    return units


def test_ray_parts_merge_into_the_unsplit_build(tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        report = build_with_ray(tmp_path / "ray", CONFIG, parts=2)
    finally:
        ray.shutdown()
    assert report.exists()
    parts = [DatasetReader(f) for f in part_folders(tmp_path / "ray", 2)]
    assert [len(p.objects) for p in parts] == [1, 1]  # object-level: one object each
    merged = DatasetReader(tmp_path / "ray")
    build_dataset(tmp_path / "whole", CONFIG)
    whole = DatasetReader(tmp_path / "whole")
    assert sorted(o["object_id"] for o in merged.objects) == sorted(o["object_id"] for o in whole.objects)
    merged_units, whole_units = grasps_by_unit(merged), grasps_by_unit(whole)
    assert merged_units.keys() == whole_units.keys() and len(merged) == len(whole) > 0
    for key, rows in whole_units.items():
        for (x, text), (x_merged, text_merged) in zip(rows, merged_units[key], strict=True):
            np.testing.assert_array_equal(x_merged, x)  # same seeds per unit, in any process
            assert text_merged == text
    for entry in whole.objects:
        index = next(i for i, o in enumerate(merged.objects) if o["object_id"] == entry["object_id"])
        np.testing.assert_array_equal(
            merged.object_arrays(index)["view_points"], whole.object_arrays(whole.objects.index(entry))["view_points"]
        )
    with pytest.raises(FileExistsError, match="--resume"):
        build_with_ray(tmp_path / "ray", CONFIG, parts=2)
    assert build_with_ray(tmp_path / "ray", CONFIG, parts=2, resume=True) == report  # finished: nothing to do


def test_part_names_are_checked():
    assert parse_part("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="i/n"):
            parse_part(bad)


def test_the_command_line_refuses_a_bad_part(tmp_path):
    import argparse

    from flash_training.data.command import add_arguments, run

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["build", "--preset", "tiny", "--out", str(tmp_path / "x"), "--shard", "2/2"])
    with pytest.raises(SystemExit, match="--shard: .*i/n"):
        run(args)
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):  # --shard and --ray exclude each other
        parser.parse_args(["build", "--out", "x", "--shard", "0/2", "--ray", "2"])
