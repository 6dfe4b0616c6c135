"""FLASH grasps as Isaac ROS `isaac_grasp` YAML files (format 1.0), and back.

The format, as NVIDIA specifies it (Isaac ROS, "Isaac Grasp File",
https://nvidia-isaac-ros.github.io/concepts/manipulation/isaac_grasp.html; the Isaac Sim grasp editor,
`isaacsim.robot_setup.grasp_editor`, reads and writes the same files):

    format: isaac_grasp
    format_version: 1.0
    object_frame: /World/mug
    gripper_frame: /World/panda_hand
    grasps:
      "grasp_0":
        confidence: 1.0
        position: [-0.04346, 0.06759, 0.19895]
        orientation: {w: 0.00332, xyz: [0.98453, 0.16837, 0.04837]}
        cspace_position:
          panda_finger_joint1: 0.00943
        pregrasp_cspace_position:
          panda_finger_joint1: 0.04

One file holds the grasps of one gripper on one object. A grasp is the pose of the gripper frame relative to the
object frame (T_object_gripper: `position` in metres, `orientation` a unit quaternion, scalar `w` first) and the
gripper's joint angles at the grasp (`cspace_position`) and while approaching (`pregrasp_cspace_position`),
joint name -> radians. The frame names are for human readers (NVIDIA: do not rely on them in code). The Isaac Sim
tutorial names the frame fields `object_frame_link` / `gripper_frame_link`; the reader accepts either spelling.

For FLASH: the gripper frame is the hand root frame (`HandSpec.root_body`, the LEAP `palm`), the joint names are
the hand spec's (LEAP "0".."15", the official LEAP URDF's names), and `confidence` is FLASH's ranking score mapped
into (0, 1] (`score_to_confidence`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from flash_core.hands.spec import HandSpec, known_hands, load_spec

FORMAT_NAME = "isaac_grasp"
FORMAT_VERSION = 1.0
# A stored quaternion whose norm is further than this from 1 is refused rather than silently normalised: it is a
# typo or a different convention, not rounding (the spec's own example, written to 5 decimals, is within 2e-5).
UNIT_QUATERNION_TOL = 1e-3
# FLASH's score is minus a length (mean fingertip gap + 5 x penetration, metres; 0 is a perfect fit):
# confidence = exp(score / CONFIDENCE_LENGTH_M), so 1 cm of error reads 0.37. Monotone, so the ranking is kept.
CONFIDENCE_LENGTH_M = 0.01


class IsaacGraspError(ValueError):
    """A malformed isaac_grasp file or grasp; the message names the file, the grasp and the field."""


def _hand_spec(hand: str) -> HandSpec:
    if hand not in known_hands():
        raise IsaacGraspError(f"unknown hand {hand!r}; known hands: {known_hands()}")
    return load_spec(hand)


def score_to_confidence(score: float) -> float:
    """FLASH ranking score (<= 0 from the generator; higher is better) -> confidence in (0, 1]."""
    return float(math.exp(min(float(score), 0.0) / CONFIDENCE_LENGTH_M))


@dataclass(frozen=True)
class IsaacGrasp:
    """One grasp entry. position_m (3,) and quaternion_wxyz (4,, unit) give T_object_gripper; the joint maps hold
    every joint of the hand, radians."""

    name: str
    position_m: np.ndarray
    quaternion_wxyz: np.ndarray
    cspace_position: dict[str, float]
    pregrasp_cspace_position: dict[str, float]
    confidence: float

    @classmethod
    def from_matrix(cls, name: str, object_from_gripper: np.ndarray, cspace_position: Mapping[str, float],
                    pregrasp_cspace_position: Mapping[str, float], confidence: float) -> IsaacGrasp:
        """A grasp from a (4, 4) T_object_gripper (its rotation block must be a proper rotation)."""
        from flash_core.geometry.rigid import check_transform, transform_to_quaternion

        try:
            position, xyzw = transform_to_quaternion(check_transform(object_from_gripper, f"grasp {name!r} pose"))
        except ValueError as exc:
            raise IsaacGraspError(str(exc)) from None
        return cls(name, position, np.roll(xyzw, 1), {k: float(v) for k, v in cspace_position.items()},
                   {k: float(v) for k, v in pregrasp_cspace_position.items()}, float(confidence))

    @property
    def matrix(self) -> np.ndarray:
        """(4, 4) T_object_gripper."""
        from flash_core.geometry.rigid import transform_from_quaternion

        return transform_from_quaternion(self.position_m, np.roll(self.quaternion_wxyz, -1))

    def joint_positions(self, joint_names: Sequence[str]) -> np.ndarray:
        """(J,) grasp joint angles in the given order (e.g. the hand spec's)."""
        return np.array([self.cspace_position[j] for j in joint_names])

    def pregrasp_joint_positions(self, joint_names: Sequence[str]) -> np.ndarray:
        """(J,) approach joint angles in the given order."""
        return np.array([self.pregrasp_cspace_position[j] for j in joint_names])


@dataclass(frozen=True)
class IsaacGraspSet:
    """The grasps of one hand on one object: what one isaac_grasp file holds. `hand` is FLASH's hand name (the
    file does not store it: its joint names identify the hand). Checked on construction."""

    hand: str
    object_frame: str
    gripper_frame: str
    grasps: tuple[IsaacGrasp, ...]

    def __post_init__(self) -> None:
        joints = _hand_spec(self.hand).joint_names
        for what in ("object_frame", "gripper_frame"):
            if not isinstance(getattr(self, what), str) or not getattr(self, what):
                raise IsaacGraspError(f"{what}: expected a non-empty frame name, got {getattr(self, what)!r}")
        if not self.grasps:
            raise IsaacGraspError("grasps: expected at least one grasp")
        names = [g.name for g in self.grasps]
        if len(set(names)) != len(names):
            raise IsaacGraspError(f"grasps: names must be unique, got {names}")
        for grasp in self.grasps:
            _check_grasp(grasp, self.hand, joints)


def _check_grasp(grasp: IsaacGrasp, hand: str, joints: tuple[str, ...]) -> None:
    where = f"grasps.{grasp.name}"
    position = np.asarray(grasp.position_m, dtype=float)
    if position.shape != (3,) or not np.isfinite(position).all():
        raise IsaacGraspError(f"{where}.position: expected 3 finite numbers, got {position.tolist()}")
    quaternion = np.asarray(grasp.quaternion_wxyz, dtype=float)
    if quaternion.shape != (4,) or not np.isfinite(quaternion).all():
        raise IsaacGraspError(f"{where}.orientation: expected w and 3 finite xyz numbers, got {quaternion.tolist()}")
    norm = float(np.linalg.norm(quaternion))
    if abs(norm - 1.0) > UNIT_QUATERNION_TOL:
        raise IsaacGraspError(f"{where}.orientation: not a unit quaternion (norm {norm:.6g}, allowed "
                              f"1 +- {UNIT_QUATERNION_TOL})")
    if not math.isfinite(grasp.confidence):
        raise IsaacGraspError(f"{where}.confidence: expected a finite number, got {grasp.confidence}")
    for what in ("cspace_position", "pregrasp_cspace_position"):
        angles = getattr(grasp, what)
        unknown = sorted(set(angles) - set(joints))
        if unknown:
            raise IsaacGraspError(f"{where}.{what}: unknown joint names {unknown} for hand {hand!r}; "
                                  f"its joints are {list(joints)}")
        missing = [j for j in joints if j not in angles]
        if missing:
            raise IsaacGraspError(f"{where}.{what}: missing joints {missing} of hand {hand!r}")
        bad = [j for j, q in angles.items() if not math.isfinite(q)]
        if bad:
            raise IsaacGraspError(f"{where}.{what}: NaN or infinite angle for joints {bad}")


# ------------------------------------------------------------------------------------------------ FLASH -> set

def isaac_grasps_from_poses(x: np.ndarray, hand: str, object_frame: str, confidences: Sequence[float] | None = None,
                            names: Sequence[str] | None = None, gripper_frame: str | None = None) -> IsaacGraspSet:
    """x (K, 25) = [t (3, m), rot6d (6), q (J, rad) in the hand spec's order], hand root pose in the OBJECT frame
    -> IsaacGraspSet. Pre-grasp joints are the hand spec's `pregrasp_joints` (what the grasp server sends);
    confidences default to 1 (grasps without a quality of their own, as the spec's hand-authored example);
    names to grasp_0, grasp_1, ...; gripper_frame to the hand's root body."""
    import torch

    from flash_core.geometry.rotations import rot6d_to_matrix

    spec = _hand_spec(hand)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 9 + len(spec.joint_names):
        raise IsaacGraspError(f"x must be (K, {9 + len(spec.joint_names)}) for hand {hand!r}, got {x.shape}")
    if not np.isfinite(x).all():
        raise IsaacGraspError("x holds NaN or infinity")
    confidences = [1.0] * len(x) if confidences is None else list(confidences)
    names = [f"grasp_{k}" for k in range(len(x))] if names is None else list(names)
    if len(confidences) != len(x) or len(names) != len(x):
        raise IsaacGraspError(f"{len(x)} grasps with {len(confidences)} confidences and {len(names)} names")
    matrices = np.tile(np.eye(4), (len(x), 1, 1))
    matrices[:, :3, :3] = rot6d_to_matrix(torch.as_tensor(x[:, 3:9])).numpy()  # Gram-Schmidt: always a rotation
    matrices[:, :3, 3] = x[:, :3]
    pregrasp = dict(zip(spec.joint_names, spec.pregrasp_joints))
    grasps = tuple(IsaacGrasp.from_matrix(name, matrix, dict(zip(spec.joint_names, q)), pregrasp, confidence)
                   for name, matrix, q, confidence in zip(names, matrices, x[:, 9:], confidences))
    return IsaacGraspSet(hand, object_frame, gripper_frame or spec.root_body, grasps)


def isaac_grasps_from_generator(grasps: Sequence, hand: str, object_frame: str,
                                object_from_cloud: np.ndarray | None = None,
                                gripper_frame: str | None = None) -> IsaacGraspSet:
    """`flash_core.generator.Grasp`s (wrist poses in the input cloud's frame) -> IsaacGraspSet, best first.
    object_from_cloud (4, 4): T_object_cloud when the cloud was not given in the object frame (default identity).
    Confidence: `score_to_confidence(grasp.score)`."""
    import torch

    from flash_core.geometry.rotations import matrix_to_rot6d

    spec = _hand_spec(hand)
    transform = np.eye(4) if object_from_cloud is None else np.asarray(object_from_cloud, dtype=np.float64)
    rows = []
    for k, grasp in enumerate(grasps):
        if sorted(grasp.joint_names) != sorted(spec.joint_names):
            raise IsaacGraspError(f"grasp {k} names joints {list(grasp.joint_names)}, not hand {hand!r}'s "
                                  f"{list(spec.joint_names)}")
        pose = transform @ np.asarray(grasp.matrix, dtype=np.float64)
        q = dict(zip(grasp.joint_names, np.asarray(grasp.joint_positions, dtype=np.float64)))
        rot6d = matrix_to_rot6d(torch.as_tensor(pose[:3, :3])).numpy()
        rows.append(np.concatenate([pose[:3, 3], rot6d, [q[j] for j in spec.joint_names]]))
    return isaac_grasps_from_poses(np.array(rows).reshape(len(rows), -1), hand, object_frame,
                                   [score_to_confidence(g.score) for g in grasps], gripper_frame=gripper_frame)


# ------------------------------------------------------------------------------------------------ writing

def _number(value: float) -> str:
    """A float as YAML that every YAML reader reads back as the same float (PyYAML's YAML 1.1 resolver needs a
    dot in exponent notation: '1e-05' would be a string)."""
    text = repr(float(value))
    return text.replace("e", ".0e") if "e" in text and "." not in text else text


def _string(value: str) -> str:
    """A double-quoted YAML scalar (JSON escaping is valid YAML): LEAP joint "0" must stay a string."""
    import json

    return json.dumps(value)


def to_yaml(grasp_set: IsaacGraspSet) -> str:
    """The isaac_grasp text of a grasp set, laid out like the spec's example."""
    lines = [f"format: {FORMAT_NAME}", f"format_version: {FORMAT_VERSION}", "",
             f"# FLASH grasps of the {grasp_set.hand} hand: the pose of the gripper frame in the object frame",
             f"object_frame: {_string(grasp_set.object_frame)}", f"gripper_frame: {_string(grasp_set.gripper_frame)}",
             "", "grasps:"]
    for grasp in grasp_set.grasps:
        w, x, y, z = (_number(v) for v in grasp.quaternion_wxyz)
        lines += [f"  {_string(grasp.name)}:",
                  f"    confidence: {_number(grasp.confidence)}",
                  f"    position: [{', '.join(_number(v) for v in grasp.position_m)}]",
                  f"    orientation: {{w: {w}, xyz: [{x}, {y}, {z}]}}"]
        for what in ("cspace_position", "pregrasp_cspace_position"):
            lines.append(f"    {what}:")
            lines += [f"      {_string(j)}: {_number(q)}" for j, q in getattr(grasp, what).items()]
    return "\n".join(lines) + "\n"


def write_isaac_grasps(path: str | Path, grasp_set: IsaacGraspSet) -> Path:
    """Write an isaac_grasp file and read it back (a file that cannot be read is never left behind silently)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(grasp_set))
    read_isaac_grasps(path, grasp_set.hand)
    return path


# ------------------------------------------------------------------------------------------------ reading

def read_isaac_grasps(path: str | Path, hand: str) -> IsaacGraspSet:
    """Read and check an isaac_grasp file for a FLASH hand (its joint names are checked against the hand spec)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise IsaacGraspError(f"cannot read isaac_grasp file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise IsaacGraspError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return parse_isaac_grasps(raw, hand)
    except IsaacGraspError as exc:
        raise IsaacGraspError(f"{path}: {exc}") from None


def parse_isaac_grasps(raw: Any, hand: str) -> IsaacGraspSet:
    """The loaded YAML document (a dict) -> IsaacGraspSet."""
    if not isinstance(raw, dict):
        raise IsaacGraspError("the top level must be a mapping")
    version = raw.get("format_version")
    if raw.get("format") != FORMAT_NAME or isinstance(version, bool) or version != FORMAT_VERSION:
        raise IsaacGraspError(f"format/format_version: expected {FORMAT_NAME!r} version {FORMAT_VERSION}, got "
                              f"{raw.get('format')!r} version {version!r}")
    frames = {}
    for what in ("object_frame", "gripper_frame"):
        value = raw.get(what, raw.get(f"{what}_link"))
        if not isinstance(value, str) or not value:
            raise IsaacGraspError(f"{what}: expected a frame name (or {what}_link), got {value!r}")
        frames[what] = value
    entries = raw.get("grasps")
    if not isinstance(entries, dict) or not entries:
        raise IsaacGraspError("grasps: expected a non-empty mapping of grasp name to grasp")
    grasps = tuple(_parse_grasp(str(name), entry) for name, entry in entries.items())
    return IsaacGraspSet(hand, frames["object_frame"], frames["gripper_frame"], grasps)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(value: Any, length: int, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != length or not all(_is_number(v) for v in value):
        raise IsaacGraspError(f"{where}: expected a list of {length} numbers, got {value!r}")
    return np.asarray(value, dtype=np.float64)


def _angles(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise IsaacGraspError(f"{where}: expected a mapping of joint name to angle (rad), got {value!r}")
    bad = {k: v for k, v in value.items() if not _is_number(v)}
    if bad:
        raise IsaacGraspError(f"{where}: angles must be numbers, got {bad}")
    # A hand-written file may leave LEAP's numeric joint names unquoted (YAML reads 0: as an integer key).
    return {str(k): float(v) for k, v in value.items()}


def _parse_grasp(name: str, entry: Any) -> IsaacGrasp:
    where = f"grasps.{name}"
    if not isinstance(entry, dict):
        raise IsaacGraspError(f"{where}: expected a mapping with confidence, position, orientation, "
                              f"cspace_position and pregrasp_cspace_position")
    missing = [f for f in ("confidence", "position", "orientation", "cspace_position", "pregrasp_cspace_position")
               if f not in entry]
    if missing:
        raise IsaacGraspError(f"{where}: missing fields {missing}")
    if not _is_number(entry["confidence"]):
        raise IsaacGraspError(f"{where}.confidence: expected a number, got {entry['confidence']!r}")
    orientation = entry["orientation"]
    if not isinstance(orientation, dict) or not _is_number(orientation.get("w")):
        raise IsaacGraspError(f"{where}.orientation: expected {{w: number, xyz: [3 numbers]}}, got {orientation!r}")
    xyz = _numbers(orientation.get("xyz"), 3, f"{where}.orientation.xyz")
    return IsaacGrasp(name, _numbers(entry["position"], 3, f"{where}.position"),
                      np.concatenate([[float(orientation["w"])], xyz]),
                      _angles(entry["cspace_position"], f"{where}.cspace_position"),
                      _angles(entry["pregrasp_cspace_position"], f"{where}.pregrasp_cspace_position"),
                      float(entry["confidence"]))
