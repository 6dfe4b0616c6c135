"""`evaluate_grasps`: grasps in, per-grasp verdicts and summary metrics out (and files, when given a folder).

    inputs = read_grasp_file("grasps.json")            # or read_dataset(root, split), or built by a model
    result = evaluate_grasps(inputs, EvalConfig(workers=2), out="outputs/eval")
    result.summary["all"]["force"]["success"]           # DexGraspBench success rate

A checkpoint evaluation makes an `EvalInput` from the model's samples (poses in each object's frame) and calls
the same function. Output files (docs/eval.md): metrics.json (settings, summary, every grasp), report.md and
failures_<protocol>_<k>.png (renders of failed grasps).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from flash_training.eval.cases import EvalInput
from flash_training.eval.metrics import (
    GraspGeometry,
    chamfer_to_references_mm,
    joint_spread_rad,
    measure_geometry,
    named_fingers,
    named_part,
    pose_coverage,
    rate,
)
from flash_training.eval.protocols import ProtocolResult
from flash_training.eval.runner import EvalConfig, grasp_pose, simulate

log = logging.getLogger(__name__)

PENETRATION_BAR_M = 0.002  # FLASH-Drive's acceptance bar, reported as a fraction


@dataclass(frozen=True)
class GraspEvaluation:
    index: int
    hand: str
    object_key: str
    category: str
    split: str | None
    prompt: str | None
    target_part: str | None  # the file's target part, else the part the prompt names
    lift: ProtocolResult | None
    force: ProtocolResult | None
    geometry: GraspGeometry
    chamfer_mm: float | None
    part_aligned: bool | None
    fingers_aligned: bool | None


@dataclass(frozen=True)
class EvalResult:
    grasps: list[GraspEvaluation]
    summary: dict[str, Any]  # group name ("all", "hand=leap", "split=train", ...) -> metrics
    config: EvalConfig


def _geometry_and_alignment(inputs: EvalInput) -> dict[int, tuple[GraspGeometry, float | None, bool | None,
                                                                    bool | None, str | None, np.ndarray]]:
    """Per grasp: geometry, Chamfer to ground truth, part and finger alignment, target part, approach."""
    import torch

    from flash_core.hands import make_hand

    groups: dict[tuple[str, str], list] = defaultdict(list)
    for case in inputs.cases:
        groups[(case.hand, case.object_key)].append(case)
    hands = {h: make_hand(h, dtype=torch.float64) for h in sorted({h for h, _ in groups})}
    out = {}
    for (hand_name, key), cases in groups.items():
        hand, obj = hands[hand_name], inputs.objects[key]
        x = np.stack([c.x for c in cases])
        geometry = measure_geometry(hand, x, obj.mesh, obj.part_names, obj.face_parts)
        references = cases[0].reference_x
        chamfer = chamfer_to_references_mm(hand, x, references) if len(references) else [None] * len(cases)
        normal = hand.palm_frame().normal.numpy()
        for case, geo, cd in zip(cases, geometry, chamfer):
            target = case.target_part or named_part(case.prompt, obj.part_names)
            part_ok = None if target is None else target in geo.finger_parts.values()
            fingers = named_fingers(case.prompt, tuple(hand.finger_names))
            fingers_ok = None if fingers is None else frozenset(geo.touching) == fingers
            approach = grasp_pose(case.x, case.up_in_object, normal).approach
            out[case.index] = (geo, None if cd is None else float(cd), part_ok, fingers_ok, target, approach)
    return out


def _reason_kind(reason: str) -> str:
    """'moved 6.1 cm under +x' -> 'moved under +x': failures are counted by kind, not by value."""
    without_values = re.sub(r"\(.*?\)|[<>]|-?\d+(\.\d+)? ?(mm|cm|deg|m/s)?", "", reason)
    return " ".join(without_values.split())


def _protocol_summary(results: list[ProtocolResult]) -> dict[str, Any]:
    summary = {"success": float(np.mean([r.success for r in results])),
               "failures": dict(Counter(_reason_kind(r.reason) for r in results if not r.success).most_common())}
    if results[0].protocol == "force":
        summary["strict_success"] = float(np.mean([bool(r.strict_success) for r in results]))
    held = [r.displacement_m for r in results if r.success]
    summary["median_displacement_mm_of_held"] = float(np.median(held) * 1000) if held else None
    return summary


def _summary(grasps: list[GraspEvaluation], approach: dict[int, np.ndarray], inputs: EvalInput) -> dict[str, Any]:
    penetration = np.array([g.geometry.penetration_m for g in grasps]) * 1000
    self_pen = np.array([g.geometry.self_penetration_m for g in grasps]) * 1000
    chamfer = [g.chamfer_mm for g in grasps if g.chamfer_mm is not None]
    by_unit: dict[tuple[str, str], list[GraspEvaluation]] = defaultdict(list)
    for g in grasps:
        by_unit[(g.hand, g.object_key)].append(g)
    x = {c.index: c.x for c in inputs.cases}
    spread = [joint_spread_rad(np.stack([x[g.index][9:] for g in unit])) for unit in by_unit.values() if len(unit) > 1]
    coverage = [pose_coverage(np.stack([approach[g.index] for g in unit])) for unit in by_unit.values()]
    summary: dict[str, Any] = {
        "grasps": len(grasps),
        "penetration_mm": {"mean": float(penetration.mean()), "p95": float(np.percentile(penetration, 95)),
                           "max": float(penetration.max()),
                           "under_2mm": float(np.mean(penetration < PENETRATION_BAR_M * 1000))},
        "self_penetration_mm": {"mean": float(self_pen.mean()), "max": float(self_pen.max()),
                                "over_2mm": float(np.mean(self_pen > PENETRATION_BAR_M * 1000))},
        "sdf_loss_mm": float(np.mean([g.geometry.sdf_loss_m for g in grasps]) * 1000),
        "chamfer_mm": float(np.mean(chamfer)) if chamfer else None,
        "fingers_touching": float(np.mean([len(g.geometry.touching) for g in grasps])),
        "accepted": float(np.mean([g.geometry.accepted for g in grasps])),
        "part_alignment": rate([g.part_aligned for g in grasps]),
        "prompts_naming_a_part": sum(g.part_aligned is not None for g in grasps),
        "finger_alignment": rate([g.fingers_aligned for g in grasps]),
        "prompts_naming_fingers": sum(g.fingers_aligned is not None for g in grasps),
        "joint_spread_rad": float(np.nanmean(spread)) if spread else None,
        "pose_coverage": float(np.mean(coverage)),
    }
    for protocol in ("lift", "force"):
        results = [getattr(g, protocol) for g in grasps if getattr(g, protocol) is not None]
        if results:
            summary[protocol] = _protocol_summary(results)
            summary[protocol]["sim_contact_links"] = float(np.mean([len(r.contact_links) for r in results]))
    return summary


def evaluate_grasps(inputs: EvalInput, config: EvalConfig | None = None, out: str | Path | None = None,
                    renders: int = 4, title: str = "grasps") -> EvalResult:
    """Simulate and measure every grasp of `inputs`; write metrics.json, report.md and renders to `out`."""
    config = config or EvalConfig()
    if not inputs.cases:
        raise ValueError("nothing to evaluate: no grasps")
    measured = _geometry_and_alignment(inputs)
    # The pre-check reads the assessment's depths (see protocols.py for why not MuJoCo's hand-object depth).
    simulated = simulate(inputs, config,
                         depths={i: (m[0].penetration_m, m[0].self_penetration_m) for i, m in measured.items()})
    grasps = []
    for case in inputs.cases:
        geometry, chamfer, part_ok, fingers_ok, target, _ = measured[case.index]
        obj = inputs.objects[case.object_key]
        sim = simulated[case.index]
        grasps.append(GraspEvaluation(case.index, case.hand, case.object_key, obj.category, case.split, case.prompt,
                                      target, sim.lift, sim.force, geometry, chamfer, part_ok, fingers_ok))
    approach = {i: m[5] for i, m in measured.items()}
    groups: dict[str, list[GraspEvaluation]] = defaultdict(list)
    for g in grasps:
        groups["all"].append(g)
        groups[f"hand={g.hand}"].append(g)
        if g.split:
            groups[f"split={g.split}"].append(g)
        groups[f"category={g.category}"].append(g)
    order = ("all", "hand", "split", "category")
    names = sorted(groups, key=lambda name: (order.index(name.split("=")[0]), name))
    summary = {name: _summary(groups[name], approach, inputs) for name in names}
    result = EvalResult(grasps, summary, config)
    if out is not None:
        from flash_training.eval.report import write_report

        write_report(result, inputs, Path(out), renders=renders, title=title)
    return result


def result_json(result: EvalResult) -> dict[str, Any]:
    """Everything in metrics.json: settings, summary per group and every grasp."""
    config = asdict(result.config)
    return {"settings": config, "summary": result.summary, "grasps": [asdict(g) for g in result.grasps]}


def save_json(payload: dict[str, Any], path: Path) -> None:
    def default(value):
        if isinstance(value, (np.floating, np.integer)):
            return value.item()
        if isinstance(value, (np.ndarray, frozenset, set)):
            return sorted(value) if isinstance(value, (frozenset, set)) else value.tolist()
        raise TypeError(f"cannot write {type(value).__name__} to JSON")

    path.write_text(json.dumps(payload, indent=1, default=default, allow_nan=True))
