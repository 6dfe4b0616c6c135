"""Metrics beside success, and `flash eval` end to end on the packaged grasp file."""

import argparse
import json

import numpy as np
import pytest
import torch
from conftest import GOOD_FILE, shifted
from flash_training.eval import command
from flash_training.eval.metrics import (
    chamfer_to_references_mm,
    joint_spread_rad,
    named_fingers,
    named_part,
    pose_coverage,
)

from flash_core.hands import make_hand


def test_prompt_parsing():
    assert named_part("Pick up the mug by its handle.", ("body", "handle")) == "handle"
    assert named_part("Pick up the mug.", ("body", "handle")) is None
    assert named_part("hold the body", ("body",)) is None  # a single-part object names nothing
    fingers = ("thumb", "index", "middle", "ring")
    assert named_fingers("pinch it with the thumb and index finger", fingers) == {"thumb", "index"}
    assert named_fingers("use the pinky", fingers) is None  # the LEAP hand has no little finger
    assert named_fingers("grasp the can", fingers) is None


def test_diversity_measures():
    assert joint_spread_rad(np.zeros((5, 16))) == 0.0
    assert joint_spread_rad(np.array([[0.0] * 16, [0.2] * 16])) == pytest.approx(0.1)
    axes = np.concatenate([np.eye(3), -np.eye(3)])
    assert pose_coverage(axes[:1]) == 1 / 20
    assert pose_coverage(np.repeat(axes[:1], 4, 0)) == 1 / 20
    assert pose_coverage(axes) == 6 / 20


def test_chamfer_to_ground_truth(good_input):
    hand = make_hand("leap", dtype=torch.float64)
    x = good_input.cases[0].x
    moved = shifted(x, np.array([0.01, 0.0, 0.0]))
    cd = chamfer_to_references_mm(hand, np.stack([x, moved]), np.stack([x, shifted(x, np.array([0.5, 0, 0]))]))
    assert cd[0] == pytest.approx(0.0, abs=1e-9)  # its own ground truth
    assert 1.0 < cd[1] <= 10.0 + 1e-6  # a rigid 10 mm shift: at most 10 mm


def test_flash_eval_writes_metrics_report_and_renders(tmp_path):
    out = tmp_path / "eval"
    args = argparse.Namespace(grasps=str(GOOD_FILE), dataset=None, split="all", hands=None, limit=None,
                              protocol="force", workers=1, backend="local", renders=2, seed=0, out=str(out))
    command.run(args)
    metrics = json.loads((out / "metrics.json").read_text())
    overall = metrics["summary"]["all"]
    assert overall["grasps"] == 2 and overall["force"]["success"] == 1.0 and "lift" not in overall
    assert metrics["settings"]["sim"]["timestep_s"] == 0.004
    assert [g["force"]["reason"] for g in metrics["grasps"]] == ["held", "held"]
    assert "| all | 2 |" in (out / "report.md").read_text()
    assert not list(out.glob("failures_*.png"))  # nothing failed, nothing drawn


def test_flash_eval_refuses_bad_input_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(GOOD_FILE.read_text().replace('"leap"', '"shadow"'))
    args = argparse.Namespace(grasps=str(bad), dataset=None, split="all", hands=None, limit=None, protocol="both",
                              workers=1, backend="local", renders=0, seed=0, out=str(tmp_path / "out"))
    with pytest.raises(SystemExit, match="flash eval: .*hand: unknown hand 'shadow'"):
        command.run(args)
