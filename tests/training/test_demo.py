"""`flash demo`, the README's main job: target parsing, the network with a trained checkpoint (full and partial
clouds, the polish), the packaged default model and the optimiser it falls back to, and one-line errors."""

import json

import pytest
from flash_training.demo import find_target
from tiny_runs import train_tiny, write_procedural_drive

import flash_core.generator
from flash_core.cli import main
from flash_core.generator import GraspGenerator

PARTS = {"mug": ("body", "handle"), "hammer": ("handle", "head"), "knife": ("blade", "handle")}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A LEAP model trained for a few steps of `flash train` (tiny config) on real procedural objects."""
    root = tmp_path_factory.mktemp("demo")
    return train_tiny(write_procedural_drive(root / "data"), root / "run", steps=2)


def demo(tmp_path, *argv):
    main(["demo", "--grasps", "2", "--show", "1", "--protocol", "force", "--out", str(tmp_path), *argv])
    return json.loads((tmp_path / "grasps.json").read_text())


def check_records(summary, part):
    grasps = summary["grasps"]
    assert summary["summary"]["grasps"] == len(grasps) == 2
    assert summary["summary"]["force"]["success"] == sum(g["force"] for g in grasps) / 2
    assert summary["summary"]["accepted"] == sum(g["rejected_because"] is None for g in grasps) / 2
    for g in grasps:
        assert len(g["x"]) == 25 and g["lift"] is None and isinstance(g["force"], bool)
        assert g["on_target_part"] == (part is None or part in g["finger_parts"].values())
        assert set(g["text"]) == {"low", "mid", "high"}
    # Best first: a grasp held in the force-closure test and accepted is never ranked below one that is not.
    keys = [not (g["force"] and g["accepted"]) for g in grasps]
    assert keys == sorted(keys)


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


def test_the_network_generates_from_the_full_cloud(tiny_model, tmp_path):
    summary = demo(tmp_path, "--checkpoint", str(tiny_model), "--steps", "2")
    assert summary["method"].startswith(f"FLASH network {tiny_model} (euler, 2 steps")
    assert summary["category"] == "mug" and summary["part"] == "handle" and summary["cloud"] == "full"
    check_records(summary, "handle")
    assert (tmp_path / "grasps.png").stat().st_size > 10_000


def test_the_network_generates_from_one_camera_view_and_polishes(tiny_model, tmp_path):
    summary = demo(tmp_path, "--checkpoint", str(tiny_model), "--steps", "2", "--cloud", "partial", "--polish",
                   "--show", "0", "--prompt", "pick up the can")
    assert summary["cloud"] == "partial" and summary["method"].endswith("+ polish)") and summary["part"] is None
    check_records(summary, None)
    assert not (tmp_path / "grasps.png").exists()


def test_the_packaged_default_model_is_used_when_there_is_one(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(flash_core.generator, "default_checkpoint", lambda: tiny_model)
    assert GraspGenerator.from_checkpoint().hand.name == "leap"
    summary = demo(tmp_path, "--steps", "2", "--show", "0")
    assert summary["method"].startswith(f"FLASH network {tiny_model}")


def test_without_a_default_model_the_demo_says_so_and_runs_the_optimiser(tmp_path, capsys, monkeypatch):
    """On a mesh file in millimetres (a 6 x 10 cm tin: kept at its size), which is also a new user's path."""
    import trimesh

    monkeypatch.setattr(flash_core.generator, "default_checkpoint", lambda: None)
    with pytest.raises(FileNotFoundError, match="no default FLASH model ships"):
        GraspGenerator.from_checkpoint()
    trimesh.creation.cylinder(radius=30, height=100, sections=32).export(tmp_path / "tin.stl")
    summary = demo(tmp_path / "out", "--mesh", str(tmp_path / "tin.stl"), "--scale", "0.001", "--prompt",
                   "pick up the tin", "--show", "0")
    assert "no default FLASH model ships yet" in " ".join(capsys.readouterr().out.split())
    assert summary["method"].startswith("FLASH-Drive geometry-only") and summary["hand"] == "leap"
    assert summary["object"] == "user/tin" and summary["part"] is None
    assert summary["mesh_notes"] == [] or all("scaled" not in n for n in summary["mesh_notes"])
    check_records(summary, None)


@pytest.mark.parametrize("argv, message", [
    (["--object", "teapot"], "'teapot' is not a built-in object"),
    (["--prompt", "grasp the teapot"], "names none of the built-in objects"),
    (["--mesh", "missing.stl"], "no mesh file at missing.stl"),
    (["--mesh", "{bad}"], "holds no triangles"),
    (["--method", "network"], "no default FLASH model ships"),
    (["--checkpoint", "{model}", "--hand", "allegro"], "is for the leap hand, not --hand allegro"),
    (["--checkpoint", "no-such-model"], "not a FLASH checkpoint"),
])
def test_unknown_objects_bad_files_and_missing_models_end_in_one_line(tmp_path, capsys, monkeypatch, tiny_model,
                                                                      argv, message):
    monkeypatch.setattr(flash_core.generator, "default_checkpoint", lambda: None)
    (tmp_path / "bad.stl").write_text("not a mesh")
    argv = [a.replace("{bad}", str(tmp_path / "bad.stl")).replace("{model}", str(tiny_model)) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *argv, "--out", str(tmp_path / "out")])
    text = str(exit_info.value.code)
    assert text.startswith("flash demo: ") and message in text and "\n" not in text
    assert not (tmp_path / "out").exists()
