"""A tiny training run in this process: its outputs, exact resume from a checkpoint, and refusals."""

import json
import shutil

import pytest
import torch
from flash_training.train.checkpointing import LATEST, latest_checkpoint, read_training_state
from flash_training.train.step import train_step
from flash_training.train.trainer import train
from safetensors.torch import load_file

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.flow.objective import FlowBatch
from flash_core.generator import GraspGenerator
from flash_core.model.flash_model import FlashModel
from flash_core.model.text_backbone import load_text_backbone


def metrics(run_dir, split):
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["split"] == split]


def test_tiny_run_logs_validates_checkpoints_and_leaves_a_model_the_generator_loads(tiny_config, tmp_path):
    tiny_config.loop.keep_checkpoints = 10
    tiny_config.initial_state.joint_jitter_rad = 0.3  # not the default: the model must carry it to inference
    result = train(tiny_config, tmp_path / "run")
    run = result.run_dir
    train_log, val_log = metrics(run, "train"), metrics(run, "val")
    assert [r["step"] for r in train_log] == list(range(1, 21)) and result.step == 20
    assert [r["step"] for r in val_log] == [10, 20] and all(r["val/loss"] > 0 for r in val_log)
    assert train_log[-1]["train/cloud_cache_hit_rate"] > 0.5  # 3 objects x 3 clouds, seen again and again
    assert 0 < train_log[0]["train/lr"] < train_log[4]["train/lr"]  # warm-up
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*")) == [f"step_{s:08d}" for s in (5, 10, 15, 20)]
    assert (run / "checkpoints" / LATEST).read_text() == "step_00000020" == latest_checkpoint(run).name
    meta, tensors = read_training_state(latest_checkpoint(run))
    assert meta["step"] == 20 and meta["seed"] == 0 and meta["world_size"] == 1
    batches_per_epoch = 3  # 7 chunks of 4 grasps (11 + 12 + 11 training grasps of 3 objects), 2 per batch
    assert meta["data_position"] == {"epoch": 20 // batches_per_epoch, "batch": 20 % batches_per_epoch}
    assert train_log[-1]["epoch"] == 19 // batches_per_epoch
    assert any(k.startswith("optimizer/") for k in tensors) and "rng/0/torch_cpu" in tensors
    final = load_file(str(result.model_dir / "model.safetensors"))
    last = load_file(str(latest_checkpoint(run) / "model" / "model.safetensors"))
    assert final.keys() == last.keys() and all(torch.equal(final[k], last[k]) for k in final)
    generator = GraspGenerator.from_checkpoint(result.model_dir)
    assert generator.initial_states.config == tiny_config.initial_state
    step_model = GraspGenerator.from_checkpoint(latest_checkpoint(run) / "model")
    assert step_model.initial_states.config.joint_jitter_rad == 0.3
    cloud = torch.nn.functional.normalize(torch.randn(400, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    grasps = generator.generate("high grasp 1 of ellipsoid 0", cloud * 0.05, num_grasps=2, seed=0, steps=2,
                                method="euler")
    assert len(grasps) == 2 and all(torch.isfinite(torch.as_tensor(g.vector)).all() for g in grasps)


def test_resume_from_a_checkpoint_computes_what_the_uninterrupted_run_did(tiny_config, tmp_path):
    tiny_config.loop.keep_checkpoints = 10
    whole = train(tiny_config, tmp_path / "whole").run_dir
    # The run as a kill after step 12 leaves it: checkpoints up to 10, metrics up to 12.
    cut = tmp_path / "cut"
    (cut / "checkpoints").mkdir(parents=True)
    shutil.copy(whole / "config.yaml", cut / "config.yaml")
    shutil.copytree(whole / "checkpoints" / "step_00000010", cut / "checkpoints" / "step_00000010")
    (cut / "checkpoints" / LATEST).write_text("step_00000010")
    lines = (whole / "metrics.jsonl").read_text().splitlines()
    (cut / "metrics.jsonl").write_text("".join(line + "\n" for line in lines if json.loads(line)["step"] <= 12))
    result = train(tiny_config, cut, resume=True)
    assert result.resumed_from == 10
    run_facts = ("train/steps_per_s", "train/cloud_cache_hit_rate")  # timing, and a cache that starts empty
    strip = lambda rows: [{k: v for k, v in r.items() if k not in run_facts} for r in rows]  # noqa: E731
    assert strip(metrics(cut, "train")) == strip(metrics(whole, "train"))  # steps 11-12 dropped, then recomputed
    assert metrics(cut, "val") == metrics(whole, "val")
    resumed = load_file(str(result.model_dir / "model.safetensors"))
    uninterrupted = load_file(str(whole / "model" / "model.safetensors"))
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def test_a_run_folder_is_never_overwritten_nor_resumed_with_another_config(tiny_config, tmp_path):
    tiny_config.loop.steps, tiny_config.loop.val_every = 2, 0
    train(tiny_config, tmp_path / "run")
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_config, tmp_path / "run")
    tiny_config.data.num_workers = 1  # how the run is carried out may change; what it computes may not
    assert train(tiny_config, tmp_path / "run", resume=True).resumed_from == 2
    tiny_config.optim.lr = 0.5
    with pytest.raises(ValueError, match=r"optim.lr: 0.001 \(run\) vs 0.5 \(given\)"):
        train(tiny_config, tmp_path / "run", resume=True)


def test_train_step_clips_logs_and_leaves_the_training_mode_alone(tiny_config):
    from flash_core.hands import make_hand

    hand = make_hand("leap", num_surface_points=128, allow_primitives=True)
    text = load_text_backbone(tiny_config.model.text, scratch_corpus=["grasp the thing", "hold the thing"])
    model = FlashModel(tiny_config.model, text, hand.surface_points).eval()  # eval: the step must not switch
    sampler = InitialStateSampler.from_hand(hand)
    x = sampler.sample(4, generator=torch.Generator().manual_seed(0))
    batch = FlowBatch(["grasp the thing"] * 4, torch.randn(1, 256, 3) * 0.04, x, initial=x.flip(0) * 3,
                      object_index=torch.zeros(4, dtype=torch.int64), times=torch.full((4,), 0.5))
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_(0, 1.0)  # a large field: the gradient norm is far above the clip
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
    logs = train_step(model, optimizer, batch, sampler, max_grad_norm=0.01)
    assert not model.training and logs["grad_norm"] > 0.01 and logs["loss"] == logs["cfm"] > 0
    clipped = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).norm()
    assert clipped == pytest.approx(0.01, rel=1e-3)
