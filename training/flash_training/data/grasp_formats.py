"""Importers for grasps from other data sets, returned as FLASH x vectors (see flash_core.hands.pose).

DexGraspNet (Allegro), the "config dict" files its README specifies ("Saved Data Format (Last Updated
2023-09-05)", github.com/PKU-EPIC/DexGraspNet README.md): one file per object and scale,
`<object_code>_<scale * 1000 as an integer>.npy` (e.g. `mug_0_1000.npy` = scale 1.0), holding a pickled dict
with `trans` (B, 3), `rot` (B, 3, 3) and `joint_angles` (B, 16) in joint_0.0..joint_15.0 order; the pose is the
Allegro base_link in the frame of the object mesh scaled by `scale`. Extra keys (`*_start`,
`grasp_orientations`, evaluation results) are ignored. Files that instead store a 25-D `hand_pose` array
([t, rot6d as R[:, :2].T.ravel(), q], DexGraspNet's Allegro optimiser output) are read too. Object meshes sit
in DexGraspNet's `meshdata/<object_code>/coacd/decomposed.obj`. DexGraspNet's public data set release
(`dexgraspnet/<object_code>.npy`, arrays of {"qpos": {"WRJTx", ..., "robot0:FFJ3", ...}, "scale"} dicts) is
ShadowHand grasps: such files are recognised and refused with that reason (FLASH models the LEAP and Allegro).

Multi-GraspSet (huggingface.co/datasets/LHS-LHS/Multi-GraspSet, arXiv 2412.08468, no licence stated): what
could be read from this machine (the Hub's file listings, stored by the search tool; the files themselves
cannot be fetched) is its top-level layout: `mid-level-data/` (the grasps with their mid-level language,
in a file format the listings do not show), `pc_8192/<Category>_<32-hex ShapeNet id>.npy` and
`pc_8192/<YCB name>.npy` (object point clouds, e.g. `Bag_756066117169dbc96c1d5082d1bdea19.npy`, `025_mug.npy`),
`Mesh_nor/` (meshes), `hand_model/` (allegro_hand_description, shadow_hand_description,
panda_gripper_description, barrett_hand_description, contact_allegro.json, contact_shadowhand.json),
`utils/` (hand_model.py, rot6d.py) and `vis_mid_dataset.ipynb`. The paper builds the grasps with DexGraspNet's
pipeline, and FLASH's paper states x = [T (3), R (6D), theta (16)] for the Allegro. Because the grasp files'
own layout stays unverified, the importer reads a small documented record format that a converter writes
(a few lines over `vis_mid_dataset.ipynb`'s loader): JSON Lines, one grasp per line, {"object": str (the
`pc_8192` / `Mesh_nor` stem), "hand": "allegro", "hand_pose": [25 numbers, DexGraspNet layout], "scale":
float (optional, default 1), "text": str or {"low"|"mid"|"high": str} (optional; a bare string is the
mid-level text)}. Check one converted sample against `flash_core.hands.pose.to_dexgraspnet` before trusting
a conversion.
"""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flash_core.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix
from flash_core.hands.pose import from_dexgraspnet, join_pose
from flash_training.data.storage import TEXT_LEVELS


@dataclass
class ImportedGrasps:
    object_code: str
    hand: str
    scale: float  # the object mesh was scaled by this before the grasps were made
    x: np.ndarray  # (B, 25) float32 FLASH x in the scaled object's frame
    text: list[str | dict[str, str] | None] | None = None  # per grasp; a string is mid-level text


_DEXGRASPNET_NAME = re.compile(r"^(?P<code>.+)_(?P<scale>\d+)$")


def load_dexgraspnet(path: str | Path) -> ImportedGrasps:
    """Read one DexGraspNet Allegro config-dict file (see the module docstring)."""
    path = Path(path)
    try:
        payload = np.load(path, allow_pickle=True)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise ValueError(f"{path}: not a readable .npy file ({exc})") from exc
    if payload.dtype == object and payload.ndim == 1 and len(payload) and isinstance(payload[0], dict):
        if "qpos" in payload[0]:  # the public release: [{"qpos": {"WRJTx": ..., "robot0:FFJ3": ...}, "scale": s}]
            raise ValueError(
                f"{path}: DexGraspNet's ShadowHand release ({len(payload)} qpos dicts); FLASH has no Shadow hand "
                "model, so only Allegro config-dict files (trans, rot, joint_angles) can be imported"
            )
    match = _DEXGRASPNET_NAME.match(path.stem)
    if match is None:
        raise ValueError(f"{path.name}: expected '<object_code>_<scale*1000>.npy', e.g. 'mug_0_1000.npy'")
    config = payload.item() if payload.dtype == object and payload.shape == () else None
    if not isinstance(config, dict):
        raise ValueError(
            f"{path}: expected a pickled dict (np.save of a config dict), got an array of shape {payload.shape}"
        )
    if "hand_pose" in config:
        x = from_dexgraspnet(torch.as_tensor(np.asarray(config["hand_pose"], np.float64)))
    else:
        missing = {"trans", "rot", "joint_angles"} - set(config)
        if missing:
            raise ValueError(f"{path}: config dict lacks {sorted(missing)} (keys: {sorted(config)})")
        trans, rot, joints = (
            torch.as_tensor(np.asarray(config[k], np.float64)) for k in ("trans", "rot", "joint_angles")
        )
        if (
            trans.ndim != 2
            or trans.shape[1] != 3
            or rot.shape[1:] != (3, 3)
            or joints.shape[1:] != (16,)
            or not len(trans) == len(rot) == len(joints)
        ):
            raise ValueError(
                f"{path}: need trans (B, 3), rot (B, 3, 3), joint_angles (B, 16); "
                f"got {tuple(trans.shape)}, {tuple(rot.shape)}, {tuple(joints.shape)}"
            )
        x = join_pose(trans, matrix_to_rot6d(rot), joints)
    if x.ndim != 2 or x.shape[1] != 25 or not torch.isfinite(x).all():
        raise ValueError(f"{path}: grasps must be finite (B, 25) poses, got shape {tuple(x.shape)}")
    scale = int(match["scale"]) / 1000
    if scale <= 0:
        raise ValueError(f"{path.name}: object scale must be positive, the name says {match['scale']}")
    return ImportedGrasps(match["code"], "allegro", scale, x.numpy().astype(np.float32))


def dexgraspnet_config(x: torch.Tensor) -> dict[str, np.ndarray]:
    """Allegro grasps x (B, 25) -> DexGraspNet's config dict (`trans` (B, 3), `rot` (B, 3, 3), `joint_angles`
    (B, 16)), the inverse of what `load_dexgraspnet` reads."""
    if x.ndim != 2 or x.shape[1] != 25:
        raise ValueError(f"need Allegro grasps of shape (B, 25), got {tuple(x.shape)}")
    x = x.detach().cpu()
    return {"trans": x[:, :3].numpy(), "rot": rot6d_to_matrix(x[:, 3:9]).numpy(), "joint_angles": x[:, 9:].numpy()}


def save_dexgraspnet(folder: str | Path, object_code: str, scale: float, x: torch.Tensor) -> Path:
    """Write Allegro grasps x (B, 25), made on `object_code`'s mesh scaled by `scale`, as DexGraspNet's
    `<object_code>_<scale * 1000>.npy`; returns the path."""
    path = Path(folder) / f"{object_code}_{round(scale * 1000)}.npy"
    np.save(path, dexgraspnet_config(x), allow_pickle=True)
    return path


def _record_text(value, where: str) -> str | dict[str, str] | None:
    """A record's optional text: a string (mid-level) or a dict with some of the levels low/mid/high."""
    if value is None or isinstance(value, str):
        return value
    if (
        isinstance(value, dict)
        and value
        and set(value) <= set(TEXT_LEVELS)
        and all(isinstance(v, str) for v in value.values())
    ):
        return dict(value)
    raise ValueError(f"{where}: 'text' must be a string or a dict with keys among {TEXT_LEVELS}, got {value!r}")


def load_grasp_records(path: str | Path, errors: list[str] | None = None) -> list[ImportedGrasps]:
    """Read Multi-GraspSet-style JSON Lines records, grouped by (object, hand, scale), in file order.

    A bad line (not JSON, missing keys, not 25 finite numbers, bad text) raises ValueError naming the file and
    line; with `errors` given, the message is appended there instead and the line skipped.
    """
    groups: dict[tuple[str, str, float], list[tuple[list[float], str | dict[str, str] | None]]] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            try:
                record = json.loads(line)
                key = (str(record["object"]), str(record["hand"]), float(record.get("scale", 1.0)))
                pose = [float(v) for v in record["hand_pose"]]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{where}: not a grasp record with 'object', 'hand' and 'hand_pose' ({exc})") from exc
            if len(pose) != 25:
                raise ValueError(f"{where}: hand_pose has {len(pose)} numbers, expected 25")
            if not np.isfinite(pose).all() or not np.isfinite(key[2]) or key[2] <= 0:
                raise ValueError(f"{where}: hand_pose and scale must be finite (and scale > 0)")
            groups.setdefault(key, []).append((pose, _record_text(record.get("text"), where)))
        except ValueError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    out = []
    for (code, hand, scale), rows in groups.items():
        x = from_dexgraspnet(torch.tensor([pose for pose, _ in rows], dtype=torch.float64)).numpy().astype(np.float32)
        texts = [t for _, t in rows]
        out.append(ImportedGrasps(code, hand, scale, x, texts if any(t is not None for t in texts) else None))
    return out
