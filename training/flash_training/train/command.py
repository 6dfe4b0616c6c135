"""`flash train`: train a FLASH model on a FLASH-Drive data set, on the CPU, one GPU, or several with torchrun.

    flash train --data data/flash-drive-default --out runs/default                 # the default model
    flash train --config training/configs/tiny.yaml --data DIR --out runs/tiny     # seconds, for a first look
    flash train --out runs/default --resume          # continue after an interruption (or start if none yet)
    flash train --out runs/x --set optim.lr=1e-4 --set model.use_live_hand=false   # any config key
    torchrun --nproc_per_node 2 -m flash_core.cli train --out runs/ddp ...          # DDP over processes
    flash train --out runs/default --resume --export-half src/flash_core/flash_core/model/default  # ship it

The config is the defaults (the default model), then `--config FILE` (YAML), then `--set` overrides, then
--data/--steps/--device/--threads. The run folder holds config.yaml, metrics.jsonl, TensorBoard logs (tb/),
checkpoints and the final model (model/, loadable with GraspGenerator.from_checkpoint).
Heavy imports happen inside `run`, so `flash --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file of config overrides (e.g. training/configs/default.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value (repeatable), e.g. --set data.batch_size=64")
    parser.add_argument("--data", help="FLASH-Drive data set folder (data.root)")
    parser.add_argument("--out", required=True, help="run folder (logs, checkpoints, the final model)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its newest checkpoint (starts it when it has none)")
    parser.add_argument("--steps", type=int, help="optimiser steps (loop.steps)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="device (default: auto)")
    parser.add_argument("--threads", type=int, help="torch threads per process")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    parser.add_argument("--export-half", metavar="DIR",
                        help="then write the final model with float16 weights into DIR (half the size, for "
                             "shipping: the packaged default model is written this way)")


def run(args: argparse.Namespace) -> None:
    from flash_training.train.allocator import keep_freed_memory

    keep_freed_memory()  # before the first large allocation: see allocator.py
    from flash_training.train.config import load_config
    from flash_training.train.trainer import train

    overrides = list(args.overrides)
    for key, value in (("loop.steps", args.steps), ("device", args.device), ("threads", args.threads)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.no_progress:
        overrides.append("loop.progress=false")
    try:
        config = load_config(args.config, overrides)
        if args.data is not None:  # a path, set as given (not read as YAML)
            config.data.root = args.data
        result = train(config, args.out, resume=args.resume)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        sys.exit(f"flash train: {exc}")
    if os.environ.get("RANK", "0") != "0":  # one line per run, not per torchrun process
        return
    print(f"trained to step {result.step}; model: {result.model_dir}")
    if args.export_half:
        print(f"float16 copy: {export_half(result.model_dir, args.export_half)}")


def export_half(model_dir, out_dir):
    """Re-save the checkpoint folder `model_dir` into `out_dir` with float16 weights (loading casts them back)."""
    import torch

    from flash_core.generator import GraspGenerator
    from flash_core.model.checkpoint import save_checkpoint

    generator = GraspGenerator.from_checkpoint(model_dir)
    return save_checkpoint(generator.model, out_dir, generator.hand, weights_dtype=torch.float16,
                           initial_state=generator.initial_states.config)
