"""`flash demo`, the README's main job: target parsing, and a short end-to-end run whose outputs agree."""

import json

import pytest
from flash_training.demo import find_target

from flash_core.cli import main

PARTS = {"mug": ("body", "handle"), "hammer": ("handle", "head"), "knife": ("blade", "handle")}


@pytest.mark.parametrize("prompt, expected", [
    ("grasp the mug by the handle", ("mug", "handle")),
    ("Hold the HAMMER by its head!", ("hammer", "head")),
    ("pick up the knife", ("knife", None)),
])
def test_prompt_names_object_and_part(prompt, expected):
    assert find_target(prompt, sorted(PARTS), PARTS.__getitem__) == expected


def test_prompt_without_a_known_object_is_refused():
    with pytest.raises(ValueError, match="names none of the built-in objects"):
        find_target("grasp the teapot", sorted(PARTS), PARTS.__getitem__)


def test_demo_end_to_end(tmp_path):
    main(["demo", "--grasps", "2", "--show", "1", "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "grasps.json").read_text())
    assert summary["category"] == "mug" and summary["part"] == "handle" and len(summary["grasps"]) == 2
    assert summary["accepted"] == sum(g["rejected_because"] is None for g in summary["grasps"])
    for g in summary["grasps"]:
        assert len(g["x"]) == 25
        assert g["on_target_part"] == ("handle" in g["finger_parts"].values())
        assert set(g["text"]) == {"low", "mid", "high"}
    assert (tmp_path / "grasps.png").stat().st_size > 10_000
