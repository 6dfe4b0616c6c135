"""`flash dataset build` options that shape the configuration: user meshes alone, candidate and grasp counts."""

import argparse

import pytest
from flash_training.data.build import PRESETS
from flash_training.data.command import add_arguments, build_config


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["build", "--preset", "tiny", "--out", "x", *argv])


def test_only_user_meshes_builds_them_alone_and_keeps_rejected_candidates(tmp_path):
    config = build_config(parse("--user-meshes", str(tmp_path), "--only-user-meshes"))
    assert [s.kind for s in config.sources] == ["user"] and config.keep_rejected
    assert config.sources[0].options["root"] == str(tmp_path.resolve())
    added = build_config(parse("--user-meshes", str(tmp_path)))
    assert [s.kind for s in added.sources] == [s.kind for s in PRESETS["tiny"].sources] + ["user"]
    assert not added.keep_rejected


def test_candidate_and_grasp_counts(tmp_path):
    config = build_config(parse("--candidates", "40", "--grasps-per-hand", "5"))
    assert config.candidates_per_hand == 40 and config.grasps_per_hand == 5
    assert build_config(parse()).candidates_per_hand == PRESETS["tiny"].candidates_per_hand


@pytest.mark.parametrize("argv, message", [
    (("--only-user-meshes",), "needs --user-meshes"),
    (("--user-meshes", "/no/such/folder"), "no such folder"),
    (("--candidates", "0"), "--candidates must be >= 1"),
    (("--grasps-per-hand", "0"), "--grasps-per-hand must be >= 1"),
])
def test_bad_options_are_refused(argv, message):
    with pytest.raises(SystemExit, match=message):
        build_config(parse(*argv))
