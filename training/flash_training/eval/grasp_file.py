"""The grasp file `flash eval --grasps` reads: grasps from any tool, with the objects they hold (docs/eval.md).

    {"format": "flash-grasps", "version": 1,
     "hand": "leap", "joint_names": ["0", ..., "15"],
     "objects": {"mug": {"mesh": "meshes/mug.obj", "scale": 1.0,
                         "position_m": [0, 0, 0], "quaternion_xyzw": [0, 0, 0, 1],
                         "parts": "meshes/mug.parts.json"}},
     "grasps": [{"object": "mug", "x": [25 numbers], "prompt": "...", "target_part": "handle"}]}

x = [t (3, m), rot6d (6), q (16, rad)] is the hand root frame's pose in the WORLD frame, where the object mesh
(scaled by `scale`, then placed by `position_m` and `quaternion_xyzw`) sits; the joint angles follow
`joint_names`, which must name each of the hand's joints once (any order; FLASH order when written here). Mesh
and parts paths are relative to the grasp file. Every problem raises GraspFileError naming the field and,
for grasps, the index.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flash_training.eval.cases import EvalInput, EvalObject, GraspCase

from flash_core.geometry.rigid import invert_transform, transform_from_quaternion
from flash_core.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix
from flash_core.hands.spec import known_hands, load_spec

FORMAT_NAME = "flash-grasps"
FORMAT_VERSION = 1


class GraspFileError(ValueError):
    """A grasp file that cannot be evaluated; the message names the file, the field and the grasp index."""


def _numbers(value: Any, length: int, where: str) -> np.ndarray:
    if not isinstance(value, (list, tuple)) or len(value) != length:
        got = f"{len(value)} entries" if isinstance(value, (list, tuple)) else type(value).__name__
        raise GraspFileError(f"{where}: expected a list of {length} numbers, got {got}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise GraspFileError(f"{where}: expected {length} numbers, got {value}")
    array = np.asarray(value, dtype=np.float64)
    if not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array)).tolist()
        raise GraspFileError(f"{where}: holds NaN or infinity at positions {bad}")
    return array


def _object_frame_pose(x_world: np.ndarray, world_from_object: np.ndarray, where: str) -> np.ndarray:
    """x in the world -> x in the object frame (same joints)."""
    rot6d = torch.as_tensor(x_world[3:9])
    if torch.linalg.cross(rot6d[:3], rot6d[3:]).norm() < 1e-8 * rot6d[:3].norm() * rot6d[3:].norm() + 1e-12:
        raise GraspFileError(f"{where}: rot6d columns are parallel or zero, not a rotation")
    world_from_hand = np.eye(4)
    world_from_hand[:3, :3] = rot6d_to_matrix(rot6d).numpy()
    world_from_hand[:3, 3] = x_world[:3]
    object_from_hand = invert_transform(world_from_object) @ world_from_hand
    rot = matrix_to_rot6d(torch.as_tensor(object_from_hand[:3, :3])).numpy()
    return np.concatenate([object_from_hand[:3, 3], rot, x_world[9:]])


def _read_parts(path: Path, faces: int, where: str) -> tuple[tuple[str, ...], np.ndarray]:
    try:
        spec = json.loads(path.read_text())
        names, face_parts = tuple(str(n) for n in spec["part_names"]), np.asarray(spec["face_parts"], dtype=np.int64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GraspFileError(f"{where}: cannot read part labels {path} ({exc}); expected "
                             '{"part_names": [...], "face_parts": [one index per face]}') from exc
    if face_parts.shape != (faces,) or (faces and (face_parts.min() < 0 or face_parts.max() >= len(names))):
        raise GraspFileError(f"{where}: {path} must give one part index in [0, {len(names)}) for each of the "
                             f"mesh's {faces} faces, got {face_parts.shape[0] if face_parts.ndim else 0} entries")
    return names, face_parts


def _read_object(name: str, raw: Any, folder: Path) -> tuple[EvalObject, np.ndarray]:
    """(object with its mesh scaled, world_from_object (4, 4))."""
    from flash_core.geometry.mesh import load_mesh

    where = f"objects.{name}"
    if not isinstance(raw, dict) or "mesh" not in raw:
        raise GraspFileError(f"{where}: expected an object with at least a 'mesh' path")
    path = folder / str(raw["mesh"])
    if not path.is_file():
        raise GraspFileError(f"{where}.mesh: no mesh file at {path}")
    try:
        mesh = load_mesh(path)
    except ValueError as exc:
        raise GraspFileError(f"{where}.mesh: {exc}") from exc
    scale = raw.get("scale", 1.0)
    if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise GraspFileError(f"{where}.scale: expected a positive number, got {scale!r}")
    mesh.apply_scale(float(scale))
    position = _numbers(raw.get("position_m", [0.0, 0.0, 0.0]), 3, f"{where}.position_m")
    quaternion = _numbers(raw.get("quaternion_xyzw", [0.0, 0.0, 0.0, 1.0]), 4, f"{where}.quaternion_xyzw")
    if np.linalg.norm(quaternion) < 1e-9:
        raise GraspFileError(f"{where}.quaternion_xyzw: all zero, not a rotation")
    part_names, face_parts = ("body",), None
    if raw.get("parts") is not None:
        part_names, face_parts = _read_parts(folder / str(raw["parts"]), len(mesh.faces), f"{where}.parts")
    category = str(raw.get("category", name))
    obj = EvalObject(key=name, mesh=mesh, category=category, part_names=part_names, face_parts=face_parts)
    return obj, transform_from_quaternion(position, quaternion)


def read_grasp_file(path: str | Path) -> EvalInput:
    """Read a grasp file into objects and grasps (poses converted into each object's frame)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise GraspFileError(f"cannot read grasp file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise GraspFileError(f"{path} is not valid JSON: {exc}") from exc
    try:
        return _parse(raw, path.parent)
    except GraspFileError as exc:
        raise GraspFileError(f"{path}: {exc}") from None


def _parse(raw: Any, folder: Path) -> EvalInput:
    if not isinstance(raw, dict):
        raise GraspFileError("the top level must be a JSON object")
    if raw.get("format") != FORMAT_NAME or raw.get("version") != FORMAT_VERSION:
        raise GraspFileError(f"format/version: expected {FORMAT_NAME!r} version {FORMAT_VERSION}, "
                             f"got {raw.get('format')!r} version {raw.get('version')!r}")
    hand = raw.get("hand")
    if hand not in known_hands():
        raise GraspFileError(f"hand: unknown hand {hand!r}; known hands: {known_hands()}")
    spec = load_spec(hand)
    joint_names = raw.get("joint_names")
    if not isinstance(joint_names, list) or sorted(map(str, joint_names)) != sorted(spec.joint_names):
        raise GraspFileError(f"joint_names: must name each of the {hand} joints {list(spec.joint_names)} once, "
                             f"got {joint_names}")
    to_flash_order = [list(map(str, joint_names)).index(j) for j in spec.joint_names]
    objects_raw = raw.get("objects")
    if not isinstance(objects_raw, dict) or not objects_raw:
        raise GraspFileError("objects: expected a non-empty mapping of object name to object")
    objects, placements = {}, {}
    for name, entry in objects_raw.items():
        objects[name], placements[name] = _read_object(name, entry, folder)
    grasps = raw.get("grasps")
    if not isinstance(grasps, list) or not grasps:
        raise GraspFileError("grasps: expected a non-empty list")
    cases = []
    for i, grasp in enumerate(grasps):
        where = f"grasps[{i}]"
        if not isinstance(grasp, dict):
            raise GraspFileError(f"{where}: expected an object with 'object' and 'x'")
        key = grasp.get("object")
        if key not in objects:
            raise GraspFileError(f"{where}.object: unknown object {key!r}; the file defines {sorted(objects)}")
        x = _numbers(grasp.get("x"), 9 + len(spec.joint_names), f"{where}.x")
        x = np.concatenate([x[:9], x[9:][to_flash_order]])
        world_from_object = placements[key]
        target = grasp.get("target_part")
        if target is not None and target not in objects[key].part_names:
            raise GraspFileError(f"{where}.target_part: {target!r} is not a part of {key} "
                                 f"({list(objects[key].part_names)})")
        prompt = grasp.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise GraspFileError(f"{where}.prompt: expected a string, got {type(prompt).__name__}")
        cases.append(GraspCase(
            index=i, hand=hand, object_key=key, x=_object_frame_pose(x, world_from_object, f"{where}.x"),
            up_in_object=world_from_object[:3, :3].T @ np.array([0.0, 0.0, 1.0]), prompt=prompt, target_part=target,
        ))
    return EvalInput(objects=objects, cases=cases)


def write_grasp_file(path: str | Path, hand: str, objects: dict[str, dict[str, Any]],
                     grasps: list[dict[str, Any]]) -> Path:
    """Write a grasp file (joint names in FLASH order). `objects` and `grasps` are the JSON entries above,
    x as lists or arrays; the result is checked by reading it back."""
    path = Path(path)
    spec = load_spec(hand)
    payload = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "hand": hand, "joint_names": list(spec.joint_names),
        "objects": objects,
        "grasps": [{**g, "x": [float(v) for v in np.asarray(g["x"]).ravel()]} for g in grasps],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1))
    read_grasp_file(path)
    return path
