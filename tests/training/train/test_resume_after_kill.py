"""`flash train` killed with SIGKILL mid-run resumes from its newest checkpoint, loses at most one checkpoint
interval, and ends exactly where an uninterrupted run ends (same losses, same weights)."""

import json
import os
import signal
import subprocess
import sys
import time

import torch
from conftest import REPO, TINY_CONFIG
from flash_training.train.checkpointing import LATEST
from flash_training.train.trainer import train
from safetensors.torch import load_file

STEPS, INTERVAL = 30, 5


def flash_train(data, out, *extra):
    return [sys.executable, "-m", "flash_core.cli", "train", "--config", str(TINY_CONFIG), "--data", str(data),
            "--out", str(out), "--steps", str(STEPS), "--set", f"loop.checkpoint_every={INTERVAL}",
            "--set", "loop.val_every=0", "--set", "loop.keep_checkpoints=3", "--no-progress", *extra]


def logged(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_sigkill_then_resume_loses_at_most_one_interval_and_matches_the_uninterrupted_run(tiny_drive, tiny_config,
                                                                                          tmp_path):
    run = tmp_path / "killed"
    process = subprocess.Popen(flash_train(tiny_drive, run), cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    pointer, deadline = run / "checkpoints" / LATEST, time.monotonic() + 120
    while not (pointer.is_file() and pointer.read_text() >= "step_00000010"):
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "no checkpoint at step 10 within 2 minutes"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = logged(run)[-1]["step"]
    checkpoint = int(pointer.read_text().removeprefix("step_"))
    assert killed_at < STEPS and killed_at - checkpoint <= INTERVAL

    finished = subprocess.run(flash_train(tiny_drive, run, "--resume"), cwd=REPO, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert f"trained to step {STEPS}" in finished.stdout

    tiny_config.loop.steps, tiny_config.loop.checkpoint_every, tiny_config.loop.val_every = STEPS, INTERVAL, 0
    tiny_config.loop.keep_checkpoints = 3
    reference = train(tiny_config, tmp_path / "uninterrupted").run_dir
    run_facts = ("train/steps_per_s", "train/cloud_cache_hit_rate")

    def losses(run_dir):
        return [{k: v for k, v in r.items() if k not in run_facts} for r in logged(run_dir)]

    assert [r["step"] for r in logged(run)] == list(range(1, STEPS + 1))  # the lost steps were dropped, then redone
    assert losses(run) == losses(reference)
    resumed, uninterrupted = (load_file(str(d / "model" / "model.safetensors")) for d in (run, reference))
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest", "step_00000020", "step_00000025", "step_00000030"]  # no partial folder left behind
