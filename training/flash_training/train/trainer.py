"""The training run: data, model, optimiser, the step loop, validation, `flash eval`, logs and checkpoints.

    <run>/config.yaml        the resolved TrainConfig (seed included)
    <run>/metrics.jsonl      one JSON object per logged step: {"step", "split": "train"|"val"|"eval", ...}
    <run>/tb/                TensorBoard events (`tensorboard --logdir <run>/tb`)
    <run>/checkpoints/       see checkpointing.py; <run>/model/ is the final model (a flash_core checkpoint)
    <run>/eval/step_<S>/     `flash eval` reports of generated grasps

`train(config, run_dir, resume=True)` continues from the newest checkpoint when there is one: model, optimiser,
learning-rate schedule, RNG states and data position are restored, and since every step's data and noise are
functions of (seed, step) (batches.py), the continued run computes exactly what the uninterrupted one would have.
Metrics logged after that checkpoint are dropped (TensorBoard's purge_step, metrics.jsonl rewritten).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.flow.objective import ObjectiveConfig, flow_matching_loss
from flash_core.flow.solver import SolverConfig
from flash_core.hands import make_hand
from flash_core.model.checkpoint import load_checkpoint, save_checkpoint
from flash_core.model.flash_model import FlashModel
from flash_core.model.text_backbone import load_text_backbone, train_prompt_tokenizer
from flash_training.data.dataset import FlashDriveDataset
from flash_training.train import checkpointing
from flash_training.train.batches import (
    STEP_STREAM,
    VALIDATION_STREAM,
    CloudCache,
    DataOrder,
    cloud_turns,
    collate_items,
    epoch_batches,
    flow_batch,
    step_noise,
)
from flash_training.train.config import TrainConfig, config_to_dict, read_yaml, save_config
from flash_training.train.distributed import ProcessGroup
from flash_training.train.step import train_step

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
# Settings that change how a run is carried out but not what it computes: a resumed run may change them.
RUNTIME_SETTINGS = ("data.num_workers", "data.cloud_cache_entries", "loop.prompt_cache_entries", "loop.progress",
                    "threads", "device")
METRICS_FILE = "metrics.jsonl"
FINAL_MODEL = "model"


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # the last step trained
    model_dir: Path  # the final model (a flash_core checkpoint folder)
    resumed_from: int  # the step the run continued from (0: a fresh start)


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Learning-rate multiplier after `step` optimiser steps: linear warm-up, then cosine to min_ratio."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for key in keys:
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            out += _config_differences(left, right, f"{prefix}{key}.")
        elif left != right:
            out.append(f"{prefix}{key}: {left!r} (run) vs {right!r} (given)")
    return out


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: str | Path, group: ProcessGroup, resume: bool = False):
        self.config = config
        self.run_dir = Path(run_dir)
        self.group = group
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        checkpoint = self._check_run_dir(resume)
        data, loop = config.data, config.loop
        self.hand = make_hand(config.model.hand, device=group.device)
        self.sampler = InitialStateSampler.from_hand(self.hand, config.initial_state)
        dataset_options = dict(text_level=data.text_level, hands=(self.hand.name,), seed=config.seed,
                               paraphrases=data.paraphrases, partial_view_probability=data.partial_view_probability)
        self.train_set = FlashDriveDataset(data.root, data.train_split, **dataset_options)
        self.val_set = FlashDriveDataset(data.root, data.val_split, **dataset_options) if loop.val_every else None
        item_objects = self.train_set.reader.grasp_object[self.train_set.indices]
        self.order = DataOrder(item_objects, data.batch_size, config.seed, data.objects_per_batch)
        self.rows = self.order.rank_rows(group)

        self.model = self._build_model(checkpoint)
        self.model.prompt_cache_entries = loop.prompt_cache_entries
        self.forward = self.model
        if group.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.forward = DistributedDataParallel(self.model, device_ids=[group.device.index]
                                                   if group.device.type == "cuda" else None)
        self.optimizer = self._build_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, config.optim.warmup_steps, loop.steps,
                                                   config.optim.min_lr_ratio))
        self.cache = CloudCache(self.model.object_encoder.pointnet, config.model.object.num_points,
                                data.cloud_cache_entries, group.device, normals=config.model.hand_object_distance)
        self.sdfs = {} if config.objective.penetration_weight > 0 else None
        self.start_step = 0
        if checkpoint is not None:
            self._restore(checkpoint)
        self._save_config()
        self._open_logs()

    # ------------------------------------------------------------------------------------------------------------
    # set-up

    def _check_run_dir(self, resume: bool) -> Path | None:
        """The checkpoint to resume from; refuses to overwrite a run or to resume with another config."""
        config_path = self.run_dir / CONFIG_FILE
        checkpoint = checkpointing.latest_checkpoint(self.run_dir)
        if config_path.exists() and not resume:
            raise FileExistsError(f"{self.run_dir} already holds a training run; pass --resume to continue it or "
                                  "choose another --out")
        if config_path.exists():
            differences = [d for d in _config_differences(read_yaml(config_path), config_to_dict(self.config))
                           if not d.startswith(tuple(f"{key}:" for key in RUNTIME_SETTINGS))]
            if differences:
                raise ValueError(f"{self.run_dir} was started with another config; resume it with the same one "
                                 f"(differences: {'; '.join(differences)})")
        return checkpoint

    def _save_config(self) -> None:
        """Written once the data and the model are set up: a run that cannot start leaves no folder behind."""
        self.group.barrier()  # every process has read the run folder before rank 0 writes to it
        if self.group.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.config, self.run_dir / CONFIG_FILE)

    def _build_model(self, checkpoint: Path | None) -> FlashModel:
        config, device = self.config, self.group.device
        if checkpoint is not None:
            model = load_checkpoint(checkpoint / checkpointing.MODEL_DIR, self.hand, device)
        else:
            tokenizer = None
            if config.model.text.kind == "scratch":  # its tokenizer is trained on the training prompts, once
                tokenizer = self.group.broadcast_object(train_prompt_tokenizer(
                    self._training_prompts(), config.model.text.scratch_vocab_size) if self.group.is_main else None)
            torch.manual_seed(config.seed)  # the same initial weights in every process
            text = load_text_backbone(config.model.text, scratch_tokenizer_json=tokenizer)
            model = FlashModel(config.model, text, self.hand.surface_points if config.model.use_live_hand else None)
        return model.to(device).train()

    def _training_prompts(self) -> list[str]:
        reader, indices = self.train_set.reader, self.train_set.indices
        return [wording for i in indices for wordings in reader.paraphrases(int(i)).values() for wording in wordings]

    def _build_optimizer(self) -> torch.optim.Optimizer:
        optim = self.config.optim
        trainable = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        # Weight decay on matrices only; biases, norms and embeddings of one dimension keep their scale.
        groups = [{"params": [p for _, p in trainable if p.dim() >= 2], "weight_decay": optim.weight_decay},
                  {"params": [p for _, p in trainable if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas)

    def _restore(self, checkpoint: Path) -> None:
        meta, tensors = checkpointing.read_training_state(checkpoint)
        if meta["data_items"] != len(self.train_set):
            raise ValueError(f"{checkpoint} was trained on {meta['data_items']} grasps, the data set now has "
                             f"{len(self.train_set)}; resume with the same data")
        self.optimizer.load_state_dict(checkpointing.optimizer_state(meta, tensors))
        self.scheduler.load_state_dict(meta["scheduler"])
        if meta["world_size"] == self.group.world_size:
            checkpointing.restore_rng_state(checkpointing.rng_state(meta, tensors, self.group.rank), self.group.device)
        else:
            log.warning("checkpoint written by %d processes, resumed by %d: global RNG states are not restored "
                        "(training draws its own noise from (seed, step) and is unaffected)",
                        meta["world_size"], self.group.world_size)
        self.start_step = int(meta["step"])

    def _open_logs(self) -> None:
        self.writer = None
        if not self.group.is_main:
            return
        from torch.utils.tensorboard import SummaryWriter

        metrics = self.run_dir / METRICS_FILE
        if metrics.exists():  # keep what the checkpoint covers, drop what a kill made the run lose
            kept = [line for line in metrics.read_text().splitlines()
                    if line.strip() and json.loads(line)["step"] <= self.start_step]
            metrics.write_text("".join(line + "\n" for line in kept))
        self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.start_step + 1 if self.start_step
                                    else None)

    # ------------------------------------------------------------------------------------------------------------
    # the loop

    def run(self) -> TrainResult:
        loop = self.config.loop
        step = self.start_step
        progress = self._progress_bar()
        window = {"start": time.perf_counter(), "steps": 0}
        for epoch, batches in epoch_batches(self.order, self.start_step, loop.steps, self.rows):
            self.train_set.set_epoch(epoch)
            loader = DataLoader(self.train_set, batch_sampler=batches, num_workers=self.config.data.num_workers,
                                collate_fn=partial(collate_items, rows_per_chunk=self.order.rows_per_chunk))
            for items in loader:
                initial, times = step_noise(self.sampler, self.config.seed, STEP_STREAM, step,
                                            self.config.data.batch_size, self.rows)
                turns = cloud_turns(self.config.seed, step, items.cloud_keys) if self.config.data.turn_objects else None
                batch = flow_batch(items, self.cache, initial, times, self.config.model.use_semantics,
                                   self._sdfs(items), turns)
                lr = self.scheduler.get_last_lr()[0]  # the rate this step uses
                logs = train_step(self.model, self.optimizer, batch, self.sampler, self.config.objective,
                                  max_grad_norm=self.config.optim.max_grad_norm, forward=self.forward)
                self.scheduler.step()
                step += 1
                window["steps"] += 1
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(loss=f"{logs['loss']:.4f}", epoch=epoch)
                if step % loop.log_every == 0 or step == loop.steps:
                    self._log_train(step, epoch, lr, logs, window)
                if loop.val_every and (step % loop.val_every == 0 or step == loop.steps):
                    self._log({"step": step, "split": "val", "val/loss": self.validation_loss()})
                if loop.eval_every and (step % loop.eval_every == 0 or step == loop.steps):
                    self._evaluate(step)
                if step % loop.checkpoint_every == 0 or step == loop.steps:
                    self._checkpoint(step)
        if progress is not None:
            progress.close()
        model_dir = self._export_final_model()
        if self.writer is not None:
            self.writer.close()
        return TrainResult(self.run_dir, step, model_dir, self.start_step)

    def _progress_bar(self):
        if not (self.config.loop.progress and self.group.is_main):
            return None
        from tqdm import tqdm

        return tqdm(total=self.config.loop.steps, initial=self.start_step, desc="flash train", dynamic_ncols=True)

    def _sdfs(self, items) -> dict | None:
        if self.sdfs is None:
            return None
        for obj in items.cloud_keys[:, 0].tolist():
            if obj not in self.sdfs:
                self.sdfs[obj] = self.train_set.sdf(obj)
        return self.sdfs

    # ------------------------------------------------------------------------------------------------------------
    # validation, evaluation, logs, checkpoints

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Mean loss over a fixed draw of validation grasps with fixed x_0 and t: comparable across steps."""
        config, dataset = self.config, self.val_set
        dataset.set_epoch(0)
        count = min(config.data.val_grasps, len(dataset))
        chosen = np.random.default_rng(config.seed).permutation(len(dataset))[:count]
        totals = torch.zeros(2, dtype=torch.float64)
        self.model.eval()
        for number, start in enumerate(range(0, count, config.data.batch_size)):
            rows_global = chosen[start : start + config.data.batch_size]
            bounds = np.linspace(0, len(rows_global), self.group.world_size + 1).round().astype(int)
            mine = slice(bounds[self.group.rank], bounds[self.group.rank + 1])
            if mine.stop == mine.start:
                continue
            initial, times = step_noise(self.sampler, config.seed, VALIDATION_STREAM, number, len(rows_global), mine)
            items = collate_items([dataset[int(i)] for i in rows_global[mine]])
            batch = flow_batch(items, self.cache, initial, times, config.model.use_semantics)
            # The CFM term alone, x_0 paired as in training: comparable to train/cfm.
            total, _ = flow_matching_loss(self.model, batch, self.sampler,
                                          ObjectiveConfig(coupling=config.objective.coupling))
            totals += torch.tensor([float(total) * len(items.prompts), len(items.prompts)], dtype=torch.float64)
        self.model.train()
        summed = self.group.sum(totals)
        return float(summed[0] / summed[1]) if summed[1] else float("nan")

    def _evaluate(self, step: int) -> None:
        if self.group.is_main:
            from flash_training.train.eval_hook import evaluate_generated

            loop = self.config.loop
            numbers = evaluate_generated(self.model, self.hand, self.config.data.root, self.config.data.val_split,
                                         loop.eval_goals, loop.eval_grasps_per_goal,
                                         SolverConfig(method=loop.eval_solver, steps=loop.eval_solver_steps),
                                         self.config.seed, self.run_dir / "eval" / f"step_{step:08d}",
                                         self.config.initial_state)
            self._log({"step": step, "split": "eval", **numbers})
        self.group.barrier()

    def _log_train(self, step: int, epoch: int, lr: float, logs: dict[str, float], window: dict[str, float]) -> None:
        names = sorted(logs)
        mean = self.group.mean(torch.tensor([logs[n] for n in names], dtype=torch.float64))
        seconds = time.perf_counter() - window["start"]
        record = {"step": step, "split": "train", "epoch": epoch,
                  **{f"train/{n}": float(v) for n, v in zip(names, mean)},
                  "train/lr": lr,
                  "train/steps_per_s": window["steps"] / seconds if seconds > 0 else float("nan"),
                  "train/cloud_cache_hit_rate": self.cache.hits / max(1, self.cache.hits + self.cache.misses)}
        window.update(start=time.perf_counter(), steps=0)
        self._log(record)

    def _log(self, record: dict[str, Any]) -> None:
        if not self.group.is_main:
            return
        with open(self.run_dir / METRICS_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        for name, value in record.items():
            if "/" in name and isinstance(value, (int, float)):
                self.writer.add_scalar(name, value, record["step"])
        self.writer.flush()

    def _checkpoint(self, step: int) -> None:
        rng_states = self.group.gather_objects(checkpointing.capture_rng_state(self.group.device))
        if self.group.is_main:
            next_epoch, next_batch = self.order.position(step)  # where a resumed run continues in the data
            info = {"data_position": {"epoch": next_epoch, "batch": next_batch}, "data_items": len(self.train_set),
                    "seed": self.config.seed, "world_size": self.group.world_size}
            checkpointing.save_training_checkpoint(self.run_dir, step, self.model, self.hand, self.optimizer,
                                                   self.scheduler, rng_states, info, self.config.loop.keep_checkpoints,
                                                   self.config.initial_state)
        self.group.barrier()

    def _export_final_model(self) -> Path:
        """<run>/model: the last weights as a flash_core checkpoint, replaced atomically."""
        final = self.run_dir / FINAL_MODEL
        if self.group.is_main:
            import os
            import shutil

            partial = self.run_dir / f".partial-{FINAL_MODEL}"
            if partial.exists():
                shutil.rmtree(partial)
            save_checkpoint(self.model, partial, self.hand, initial_state=self.config.initial_state)
            if final.exists():
                shutil.rmtree(final)
            os.replace(partial, final)
        self.group.barrier()
        return final


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> TrainResult:
    """Train (or, with resume, continue) the run in `run_dir`; one process or one of torchrun's."""
    from flash_training.train.distributed import end_process_group, start_process_group

    group = start_process_group(config.device)
    try:
        return Trainer(config, run_dir, group, resume).run()
    finally:
        end_process_group(group)
