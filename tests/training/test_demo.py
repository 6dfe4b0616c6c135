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


def test_demo_on_a_mesh_file_in_millimetres(tmp_path):
    import trimesh

    trimesh.creation.cylinder(radius=30, height=100, sections=32).export(tmp_path / "tin.stl")
    main(["demo", "--mesh", str(tmp_path / "tin.stl"), "--scale", "0.001", "--prompt", "pick up the tin",
          "--grasps", "2", "--show", "0", "--out", str(tmp_path / "out")])
    summary = json.loads((tmp_path / "out" / "grasps.json").read_text())
    assert summary["object"] == "user/tin" and summary["part"] is None and len(summary["grasps"]) == 2
    assert summary["mesh_notes"] == [] or all("scaled" not in n for n in summary["mesh_notes"])  # 0.1 m: kept


@pytest.mark.parametrize("argv, message", [
    (["--object", "teapot"], "'teapot' is not a built-in object"),
    (["--prompt", "grasp the teapot"], "names none of the built-in objects"),
    (["--mesh", "missing.stl"], "no mesh file at missing.stl"),
    (["--mesh", "{bad}"], "holds no triangles"),
])
def test_unknown_objects_and_bad_files_end_in_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "bad.stl").write_text("not a mesh")
    argv = [a.replace("{bad}", str(tmp_path / "bad.stl")) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *argv, "--out", str(tmp_path / "out")])
    text = str(exit_info.value.code)
    assert text.startswith("flash demo: ") and message in text and "\n" not in text
    assert not (tmp_path / "out").exists()
