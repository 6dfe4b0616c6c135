"""Training checkpoints: all a run needs to continue exactly, written so that a kill at any moment leaves the
previous complete checkpoint or the new one, never a half-written one.

    <run>/checkpoints/step_<S:08d>/
        model/                       a flash_core checkpoint (`GraspGenerator.from_checkpoint` loads it)
        training_state.safetensors   optimiser tensors and every process's torch RNG states
        training_state.json          step, data position, scheduler, optimiser parameter groups, seed, process
                                     count, numpy and Python RNG states of every process
    <run>/checkpoints/latest         the newest complete checkpoint's folder name

A checkpoint is written into `.partial-step_<S>`, its files flushed to disk, and the folder renamed into place
(atomic on POSIX); `latest` is then replaced atomically. Partial folders left by a kill are removed by the next
save. Only the newest `keep` checkpoints stay.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flash_core.flow.initial_state import InitialStateConfig
from flash_core.model.checkpoint import save_checkpoint

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"
MODEL_DIR = "model"
LATEST = "latest"
_PARTIAL = ".partial-"
_STEP_DIR = re.compile(r"step_(\d{8})")


def checkpoint_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    root = checkpoint_root(run_dir)
    pointer = root / LATEST
    if pointer.is_file():
        path = root / pointer.read_text().strip()
        if (path / STATE_JSON).is_file():
            return path
    complete = sorted(p for p in root.glob("step_*") if _STEP_DIR.fullmatch(p.name) and (p / STATE_JSON).is_file())
    return complete[-1] if complete else None


# ----------------------------------------------------------------------------------------------------------------
# RNG states


def capture_rng_state(device: torch.device) -> dict[str, Any]:
    """This process's global RNG states: torch (CPU and the CUDA device) as tensors, numpy and Python as JSON."""
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    state = {
        "torch_cpu": torch.get_rng_state(),
        "numpy": {"keys": numpy_state[1].tolist(), "pos": int(numpy_state[2]), "has_gauss": int(numpy_state[3]),
                  "cached_gaussian": float(numpy_state[4])},
        "python": [python_state[0], list(python_state[1]), python_state[2]],
    }
    if device.type == "cuda":
        state["torch_cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch_cpu"])
    if device.type == "cuda" and "torch_cuda" in state:
        torch.cuda.set_rng_state(state["torch_cuda"], device)
    numpy = state["numpy"]
    np.random.set_state(("MT19937", np.array(numpy["keys"], np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


# ----------------------------------------------------------------------------------------------------------------
# writing


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for param_id, entries in state_dict["state"].items():
        for name, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optimizer/{param_id}/{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's own entry list (renames into it) to disk."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_tree(folder: Path) -> None:
    """Flush every file below `folder`, then the folders themselves, to disk."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for path in [*sorted(p for p in folder.rglob("*") if p.is_dir()), folder]:
        _fsync_folder(path)


def save_training_checkpoint(run_dir: str | Path, step: int, model, hand, optimizer: torch.optim.Optimizer,
                             scheduler, rng_states: list[dict[str, Any]], info: dict[str, Any], keep: int,
                             initial_state: InitialStateConfig | None = None) -> Path:
    """Write checkpoint `step` atomically (see the module docstring); returns its folder.

    rng_states: `capture_rng_state()` of every process, in rank order. info: JSON-able run facts (data
    position, seed, ...) stored beside the state.
    """
    from safetensors.torch import save_file

    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(_PARTIAL + "*"):  # left by a kill during an earlier save
        shutil.rmtree(stale)
    name = f"step_{step:08d}"
    partial = root / (_PARTIAL + name)
    partial.mkdir()
    save_checkpoint(model, partial / MODEL_DIR, hand, initial_state=initial_state)
    tensors, optimizer_meta = _flatten_optimizer(optimizer.state_dict())
    rng_json = []
    for rank, state in enumerate(rng_states):
        tensors[f"rng/{rank}/torch_cpu"] = state["torch_cpu"]
        if "torch_cuda" in state:
            tensors[f"rng/{rank}/torch_cuda"] = state["torch_cuda"]
        rng_json.append({"numpy": state["numpy"], "python": state["python"]})
    save_file(tensors, str(partial / STATE_TENSORS))
    meta = {"step": step, "optimizer": optimizer_meta, "scheduler": scheduler.state_dict(), "rng": rng_json, **info}
    (partial / STATE_JSON).write_text(json.dumps(meta, indent=1))
    _fsync_tree(partial)
    final = root / name
    if final.exists():  # the same step written again after a resume: replace it whole
        shutil.rmtree(final)
    os.replace(partial, final)
    pointer = root / (_PARTIAL + LATEST)
    pointer.write_text(name)
    os.replace(pointer, root / LATEST)
    _fsync_folder(root)
    steps = sorted(p for p in root.glob("step_*") if _STEP_DIR.fullmatch(p.name))
    for old in steps[:-keep]:
        shutil.rmtree(old)
    return final


# ----------------------------------------------------------------------------------------------------------------
# reading


def read_training_state(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(the JSON part, the tensors) of checkpoint folder `path`."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / STATE_JSON).is_file():
        raise FileNotFoundError(f"{path} is not a training checkpoint ({STATE_JSON} is missing)")
    return json.loads((path / STATE_JSON).read_text()), load_file(str(path / STATE_TENSORS))


def optimizer_state(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The optimiser's state_dict as saved (for `optimizer.load_state_dict`)."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        kind, param_id, name = key.split("/", 2)
        if kind == "optimizer":
            state.setdefault(int(param_id), {})[name] = value
    for param_id, entries in meta["optimizer"]["scalars"].items():
        state.setdefault(int(param_id), {}).update(entries)
    return {"state": state, "param_groups": meta["optimizer"]["param_groups"]}


def rng_state(meta: dict[str, Any], tensors: dict[str, torch.Tensor], rank: int) -> dict[str, Any]:
    """Process `rank`'s RNG states as `capture_rng_state` returned them."""
    state = {"torch_cpu": tensors[f"rng/{rank}/torch_cpu"], **meta["rng"][rank]}
    if f"rng/{rank}/torch_cuda" in tensors:
        state["torch_cuda"] = tensors[f"rng/{rank}/torch_cuda"]
    return state
