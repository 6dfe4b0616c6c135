"""Importers for grasps from other data sets, returned as FLASH x vectors (see flash_core.hands.pose).

DexGraspNet (Allegro), the "config dict" files its README specifies (2023-09-05): one file per object and
scale, `<object_code>_<scale * 1000 as an integer>.npy` (e.g. `mug_0_1000.npy` = scale 1.0), holding a
pickled dict with `trans` (B, 3), `rot` (B, 3, 3) and `joint_angles` (B, 16) in joint_0.0..joint_15.0 order;
the pose is the Allegro base_link in the frame of the object mesh scaled by `scale`. Extra keys (`*_start`,
`grasp_orientations`, evaluation results) are ignored. Files that instead store a 25-D `hand_pose` array
([t, rot6d as R[:, :2].T.ravel(), q], DexGraspNet's Allegro optimiser output) are read too.

Multi-GraspSet: its release layout could not be checked from this machine (Hugging Face is unreachable), so
the importer reads a small documented record format that a converter can produce: JSON Lines, one grasp per
line, {"object": str, "hand": "allegro", "hand_pose": [25 numbers, DexGraspNet layout], "scale": float
(optional, default 1), "text": str (optional)}. The FLASH paper states Multi-GraspSet poses use that
25-D Allegro layout; check one sample against `flash_core.hands.pose.to_dexgraspnet` before trusting a
conversion.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flash_core.geometry.rotations import matrix_to_rot6d
from flash_core.hands.pose import from_dexgraspnet, join_pose


@dataclass
class ImportedGrasps:
    object_code: str
    hand: str
    scale: float  # the object mesh was scaled by this before the grasps were made
    x: np.ndarray  # (B, 25) float32 FLASH x in the scaled object's frame
    text: list[str] | None = None


_DEXGRASPNET_NAME = re.compile(r"^(?P<code>.+)_(?P<scale>\d+)$")


def load_dexgraspnet(path: str | Path) -> ImportedGrasps:
    """Read one DexGraspNet Allegro config-dict file (see the module docstring)."""
    path = Path(path)
    match = _DEXGRASPNET_NAME.match(path.stem)
    if match is None:
        raise ValueError(f"{path.name}: expected '<object_code>_<scale*1000>.npy', e.g. 'mug_0_1000.npy'")
    payload = np.load(path, allow_pickle=True)
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
    return ImportedGrasps(match["code"], "allegro", int(match["scale"]) / 1000, x.numpy().astype(np.float32))


def load_grasp_records(path: str | Path) -> list[ImportedGrasps]:
    """Read Multi-GraspSet-style JSON Lines records, grouped by (object, hand, scale), in file order."""
    groups: dict[tuple[str, str, float], list[tuple[list[float], str | None]]] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = (str(record["object"]), str(record["hand"]), float(record.get("scale", 1.0)))
            pose = [float(v) for v in record["hand_pose"]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{path}:{number}: not a grasp record with 'object', 'hand' and 'hand_pose' ({exc})"
            ) from exc
        if len(pose) != 25:
            raise ValueError(f"{path}:{number}: hand_pose has {len(pose)} numbers, expected 25")
        groups.setdefault(key, []).append((pose, record.get("text")))
    out = []
    for (code, hand, scale), rows in groups.items():
        x = from_dexgraspnet(torch.tensor([pose for pose, _ in rows], dtype=torch.float64)).numpy().astype(np.float32)
        texts = [t for _, t in rows]
        out.append(ImportedGrasps(code, hand, scale, x, texts if any(t is not None for t in texts) else None))
    return out
