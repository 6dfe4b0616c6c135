"""What a training run is: typed dataclasses with working defaults, overridden by YAML and `--set key=value`.

    TrainConfig
      model           flash_core's FlashModelConfig (the network; saved with every checkpoint)
      data            which data set, splits, augmentation, global batch size
      optim           AdamW, warm-up + cosine learning rate, gradient clipping
      objective       flash_core's ObjectiveConfig (CFM, optional penetration penalty)
      initial_state   flash_core's InitialStateConfig (the x_0 distribution, also used at inference)
      loop            steps and the intervals of logging, validation, checkpoints and `flash eval`
      seed, device, threads

The defaults train the default model (compact fusion, SmolLM2 frozen, live hand cloud) on the `default` data
preset; `training/configs/default.yaml` spells them out and `tiny.yaml` is a seconds-long run for tests.
A YAML file holds only what differs from the defaults (any subset, nested like the dataclasses); unknown keys
are errors that name the known ones. The resolved config is saved with the run (config.yaml).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flash_core.flow.initial_state import InitialStateConfig
from flash_core.flow.objective import ObjectiveConfig
from flash_core.model.flash_model import FlashModelConfig


@dataclass
class DataConfig:
    root: str = "data/flash-drive-default"  # a FLASH-Drive folder (`flash dataset build --preset default`)
    train_split: str = "train"
    val_split: str = "seen"  # held-out grasps of training objects; "unseen_object" for generalisation
    text_level: str = "random"  # "low", "mid", "high" or "random" (drawn per item and epoch)
    paraphrases: bool = True  # draw one of the stored wordings per item and epoch
    # Chance that an item's cloud is one of its object's stored single-view partial clouds (what a depth camera
    # sees) instead of the full cloud; needs a data set built with views.
    partial_view_probability: float = 0.5
    # Turn each cloud of a batch, with its grasps, about the up axis by a random angle: the data's objects stand as
    # their sources built them (a mug's handle always on one side), a robot's at any angle.
    turn_objects: bool = False
    batch_size: int = 32  # global: split evenly over the processes of a distributed run
    # A batch holds this many objects, batch_size / objects_per_batch grasps of each, sharing one cloud: the
    # object encoder then runs on 8 clouds instead of 32 (batches.py). None: a plain shuffle of the grasps.
    objects_per_batch: int | None = 8
    num_workers: int = 0  # data-loader processes (items are memory-mapped; 0 is enough on small machines)
    val_grasps: int = 256  # validation loss on this many grasps of val_split (a fixed, seeded draw)
    cloud_cache_entries: int = 10_000  # object clouds kept thinned, centred and grouped (LRU; ~60 kB each)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.val_grasps < 0 or self.num_workers < 0 or self.cloud_cache_entries < 1:
            raise ValueError("batch_size and cloud_cache_entries must be >= 1; val_grasps, num_workers >= 0")


@dataclass
class OptimConfig:
    lr: float = 3e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 200  # linear warm-up from 0
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio at the last step
    max_grad_norm: float | None = 1.0

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.warmup_steps < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("lr must be > 0, warmup_steps >= 0 and min_lr_ratio in [0, 1]")


@dataclass
class LoopConfig:
    steps: int = 6000
    log_every: int = 10  # train loss to TensorBoard and metrics.jsonl
    val_every: int = 250  # validation loss; 0: never
    checkpoint_every: int = 250  # a kill loses at most this many steps
    keep_checkpoints: int = 3  # newest kept; older ones are deleted
    eval_every: int = 1000  # `flash eval` of generated grasps (MuJoCo); 0: never
    eval_goals: int = 4  # validation grasps whose (object, prompt) become goals
    eval_grasps_per_goal: int = 4
    eval_solver: str = "euler"
    eval_solver_steps: int = 16
    # Frozen-LLM prompt features kept (LRU; ~35 kB each for SmolLM2): every training prompt ideally, within memory.
    prompt_cache_entries: int = 20_000
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1 or self.log_every < 1 or self.checkpoint_every < 1 or self.keep_checkpoints < 1:
            raise ValueError("steps, log_every, checkpoint_every and keep_checkpoints must be >= 1")
        if min(self.val_every, self.eval_every, self.eval_goals, self.eval_grasps_per_goal) < 0:
            raise ValueError("val_every, eval_every, eval_goals and eval_grasps_per_goal must be >= 0")


@dataclass
class TrainConfig:
    # The default model adds the hand-object distance to the paper's network (measured: docs/benchmarks.md);
    # FlashModelConfig keeps it off so that checkpoints written without the switch load as they were trained.
    model: FlashModelConfig = field(default_factory=lambda: FlashModelConfig(hand_object_distance=True))
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    initial_state: InitialStateConfig = field(default_factory=InitialStateConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    seed: int = 0  # model init, data order, x_0 and t of every step
    device: str = "auto"  # "auto": the process's GPU when there is one, else the CPU
    threads: int | None = None  # torch intra-op threads per process; None: torch's default


# ----------------------------------------------------------------------------------------------------------------
# dict <-> dataclass


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dicts and lists (tuples become lists), ready for YAML or JSON."""
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(config))


def config_from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass `cls` from a nested dict; missing keys keep their defaults, unknown keys raise."""
    if not isinstance(data, dict):
        raise ValueError(f"config {where or 'root'} must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown config key(s) {[where + k for k in unknown]}; {where or 'the root'} has "
                         f"{sorted(known)}")
    hints = typing.get_type_hints(cls)
    return cls(**{name: _convert(hints[name], value, f"{where}{name}") for name, value in data.items()})


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _convert(options[0], value, where) if len(options) == 1 else value
    if dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value, where + ".")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config {where} must be a list, got {value!r}")
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            raise ValueError(f"config {where} must have {len(items)} entries, got {len(value)}")
        return tuple(_convert(item, v, f"{where}[{i}]") for i, (item, v) in enumerate(zip(items, value)))
    if hint is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:  # YAML 1.1 reads "2e-3" (no dot) as a string
            return float(value)
        except ValueError:
            raise ValueError(f"config {where} must be a number, got {value!r}") from None
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ValueError(f"config {where} must be {hint.__name__}, got {value!r}")
    return value


# ----------------------------------------------------------------------------------------------------------------
# files and command-line overrides


def parse_overrides(assignments: list[str]) -> dict[str, Any]:
    """["optim.lr=1e-3", "model.use_text=false"] -> nested dict; values are read as YAML scalars/lists."""
    import yaml

    out: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {assignment!r} must look like section.key=value")
        *parents, leaf = key.strip().split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return out


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Nested update: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of config sections, got {type(data).__name__}")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """The defaults, updated by the YAML file at `path` and then by `section.key=value` overrides."""
    data = read_yaml(path) if path is not None else {}
    return config_from_dict(TrainConfig, merge(data, parse_overrides(overrides or [])))


def save_config(config: TrainConfig, path: str | Path) -> None:
    import yaml

    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
