"""`flash export-grasps`: a grasp file -> another tool's grasp format (docs/interchange.md).

    flash export-grasps --grasps grasps.json --format isaac_grasp --out grasps.yaml [--object mug]

Reads either a `flash eval` grasp file ("format": "flash-grasps", docs/eval.md; poses in the world, converted to
the object's frame) or the grasps.json `flash demo` writes (poses already in the object frame, ranked). An
isaac_grasp file holds one hand on one object: a grasp file with several objects needs --object.
Confidence: a demo grasp's share of the simulated tests it held in; a grasp-file grasp, which carries no quality,
gets 1.0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

FORMATS = ("isaac_grasp",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grasps", required=True, help="flash eval grasp file or flash demo grasps.json")
    parser.add_argument("--format", choices=FORMATS, default="isaac_grasp", help="output format")
    parser.add_argument("--out", required=True, help="output file (.yaml)")
    parser.add_argument("--object", help="which object of a grasp file (needed when it holds several)")
    parser.add_argument("--gripper-frame", help="gripper frame name written to the file (default: the hand root)")


def _from_grasp_file(path: Path, object_key: str | None, gripper_frame: str | None):
    from flash_core.interchange.isaac_grasp import isaac_grasps_from_poses
    from flash_training.eval.grasp_file import read_grasp_file

    inputs = read_grasp_file(path)
    if object_key is None:
        if len(inputs.objects) > 1:
            raise ValueError(f"{path} holds grasps of {sorted(inputs.objects)}: choose one with --object")
        object_key = next(iter(inputs.objects))
    cases = [c for c in inputs.cases if c.object_key == object_key]
    if not cases:
        raise ValueError(f"{path} has no grasps of object {object_key!r}; it holds {sorted(inputs.objects)}")
    return isaac_grasps_from_poses(np.stack([c.x for c in cases]), cases[0].hand, object_key,
                                   names=[f"grasp_{c.index}" for c in cases], gripper_frame=gripper_frame)


def _held_share(record: dict) -> float:
    verdicts = [record.get(p) for p in ("lift", "force") if record.get(p) is not None]
    return float(np.mean(verdicts)) if verdicts else 1.0


def _from_demo_output(raw: dict, object_key: str | None, gripper_frame: str | None):
    from flash_core.interchange.isaac_grasp import isaac_grasps_from_poses

    if object_key is not None and object_key != raw["object"]:
        raise ValueError(f"this demo output holds grasps of {raw['object']!r}, not {object_key!r}")
    records = raw["grasps"]
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) and "x" in r for r in records):
        raise ValueError("grasps: expected a non-empty list of records with 'x'")
    return isaac_grasps_from_poses(np.array([r["x"] for r in records], dtype=float), str(raw["hand"]),
                                   str(raw["object"]), [_held_share(r) for r in records], gripper_frame=gripper_frame)


def export_grasps(grasps: str | Path, out: str | Path, object_key: str | None = None,
                  gripper_frame: str | None = None) -> Path:
    """Convert a grasp file or demo output into an isaac_grasp file; returns the written path."""
    from flash_core.interchange.isaac_grasp import write_isaac_grasps

    path = Path(grasps)
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if isinstance(raw, dict) and raw.get("format") == "flash-grasps":
        grasp_set = _from_grasp_file(path, object_key, gripper_frame)
    elif isinstance(raw, dict) and {"hand", "object", "grasps"} <= set(raw):
        grasp_set = _from_demo_output(raw, object_key, gripper_frame)
    else:
        raise ValueError(f"{path} is neither a grasp file (\"format\": \"flash-grasps\", docs/eval.md) nor a "
                         "flash demo grasps.json (keys hand, object, grasps)")
    return write_isaac_grasps(out, grasp_set)


def run(args: argparse.Namespace) -> None:
    try:
        written = export_grasps(args.grasps, args.out, args.object, args.gripper_frame)
    except ValueError as exc:  # GraspFileError and IsaacGraspError are ValueErrors
        sys.exit(f"flash export-grasps: {exc}")
    print(f"wrote {written} ({args.format})")
