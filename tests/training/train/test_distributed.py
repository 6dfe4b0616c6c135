"""Two CPU processes through torchrun (DDP on gloo) follow the same loss curve as one process with the same seed:
each takes an equal slice of the same global batch and the same per-row noise."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import REPO, TINY_CONFIG
from flash_training.train.trainer import train
from safetensors.torch import load_file

STEPS = 6


def logged(run_dir, split):
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["split"] == split]


def test_two_gloo_processes_match_one_process(tiny_drive, tiny_config, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "flash_core.cli", "train", "--config", str(TINY_CONFIG), "--data", str(tiny_drive),
               "--out", str(tmp_path / "ddp"), "--steps", str(STEPS), "--set", "loop.val_every=3", "--no-progress"]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.count(f"trained to step {STEPS}") == 1  # reported by rank 0 only

    tiny_config.loop.steps, tiny_config.loop.val_every = STEPS, 3
    single = train(tiny_config, tmp_path / "single").run_dir
    ddp = tmp_path / "ddp"
    for name in ("train/loss", "train/grad_norm"):
        two = [r[name] for r in logged(ddp, "train")]
        one = [r[name] for r in logged(single, "train")]
        assert len(two) == len(one) == STEPS
        assert two == pytest.approx(one, rel=1e-5)
    assert [r["val/loss"] for r in logged(ddp, "val")] == pytest.approx([r["val/loss"] for r in logged(single, "val")],
                                                                        rel=1e-5)
    weights = [load_file(str(d / "model" / "model.safetensors")) for d in (ddp, single)]
    for key in weights[1]:
        torch.testing.assert_close(weights[0][key], weights[1][key], atol=1e-5, rtol=1e-4)
    assert json.loads((ddp / "checkpoints" / "step_00000006" / "training_state.json").read_text())["world_size"] == 2
