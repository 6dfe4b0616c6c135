"""Files of an evaluation: metrics.json, report.md and renders of failed grasps (docs/eval.md)."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
from flash_training.eval.cases import EvalInput
from flash_training.eval.evaluate import EvalResult, result_json, save_json

log = logging.getLogger(__name__)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def _group_table(summary: dict) -> list[str]:
    lines = ["| group | grasps | lift | force (5 cm / 15 deg) | force strict (2 cm) | pen. < 2 mm | "
             "pen. p95 mm | self-pen. > 2 mm | fingers touching | part aligned | fingers aligned |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lift, force = s.get("lift", {}), s.get("force", {})
        lines.append(
            f"| {name} | {s['grasps']} | {_pct(lift.get('success'))} | {_pct(force.get('success'))} | "
            f"{_pct(force.get('strict_success'))} | {_pct(s['penetration_mm']['under_2mm'])} | "
            f"{_num(s['penetration_mm']['p95'])} | {_pct(s['self_penetration_mm']['over_2mm'])} | "
            f"{_num(s['fingers_touching'], 1)} | {_pct(s['part_alignment'])} | {_pct(s['finger_alignment'])} |")
    return lines


def _render_failures(result: EvalResult, inputs: EvalInput, out: Path, protocol: str, count: int) -> list[Path]:
    """Up to `count` failed grasps of a protocol, one picture per (hand, object)."""
    from flash_core.sim.render import render_grasps, save_png

    failed = [g for g in result.grasps if getattr(g, protocol) is not None and not getattr(g, protocol).success]
    groups = defaultdict(list)
    for g in failed[:count]:
        groups[(g.hand, g.object_key)].append(g)
    x = {c.index: c.x for c in inputs.cases}
    paths = []
    for k, ((hand, key), members) in enumerate(groups.items()):
        image = render_grasps(hand, np.stack([x[g.index] for g in members]), inputs.objects[key].mesh, size=320)
        paths.append(save_png(image, out / f"failures_{protocol}_{k}.png"))
    return paths


def write_report(result: EvalResult, inputs: EvalInput, out: Path, renders: int = 4, title: str = "grasps") -> Path:
    """metrics.json, report.md and failure renders in `out`; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    save_json(result_json(result), out / "metrics.json")
    overall = result.summary["all"]
    config = result.config
    lines = [
        f"# Grasp evaluation: {title}", "",
        f"{overall['grasps']} grasps of {len(inputs.objects)} objects. Protocols: {', '.join(config.protocols)} "
        "(docs/eval.md). Geometry from the hand model against each object's exact mesh SDF; simulation in "
        f"MuJoCo (timestep {config.sim.timestep_s * 1000:g} ms, friction {config.sim.friction[0]}, object "
        f"{config.sim.object_mass_kg} kg).", "",
        "## Success and geometry", "", *_group_table(result.summary), "",
        "## Other metrics (all grasps)", "",
        f"- passing FLASH-Drive's acceptance test (`flash_training.assess`): {_pct(overall['accepted'])}",
        f"- SDF loss (mean depth of hand surface points inside): {_num(overall['sdf_loss_mm'], 4)} mm",
        f"- penetration: mean {_num(overall['penetration_mm']['mean'])} mm, max "
        f"{_num(overall['penetration_mm']['max'])} mm; self-penetration max "
        f"{_num(overall['self_penetration_mm']['max'])} mm",
        f"- Chamfer distance to the closest ground-truth grasp: {_num(overall['chamfer_mm'])} mm",
        f"- diversity: joint spread {_num(overall['joint_spread_rad'], 3)} rad, pose coverage "
        f"{_pct(overall['pose_coverage'])}",
        f"- semantic alignment: part {_pct(overall['part_alignment'])} of {overall['prompts_naming_a_part']} "
        f"prompts naming a part; fingers {_pct(overall['finger_alignment'])} of "
        f"{overall['prompts_naming_fingers']} prompts naming fingers", "",
    ]
    for protocol in config.protocols:
        failures = overall.get(protocol, {}).get("failures", {})
        lines += [f"## Why grasps failed: {protocol}", ""]
        lines += [f"- {kind}: {n}" for kind, n in failures.items()] or ["- none"]
        lines.append("")
        if renders > 0 and failures:
            try:
                pictures = _render_failures(result, inputs, out, protocol, renders)
            except Exception as exc:  # no OpenGL on this machine: the numbers stand without pictures
                log.warning("could not render failures (%s); set MUJOCO_GL=egl or osmesa", exc)
                pictures = []
            lines += [f"![failed {protocol} grasps]({p.name})" for p in pictures] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
