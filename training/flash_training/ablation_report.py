"""The report of `flash ablations`: tables shaped like the FLASH paper's Tables 1 and 2, with what it ran on.

    <out>/report.md      the tables, the settings, training time per variant, the hardware
    <out>/results.json   the same numbers for programs

Table 1 compares methods (the FLASH model, with the polish, settled, nearest-neighbour retrieval, the geometry-only
optimiser) by simulated success in both protocols, penetration, SDF loss, Chamfer distance to the data set's grasps
and part alignment; Table 2 the ablations of the model by the paper's SDF loss and Chamfer distance, with success,
penetration and alignment beside them. Every figure is given for full clouds and for single-view partial clouds
(and, with `--clouds ... partial_completed`, for those views completed by symmetry).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flash_training.ablations import DEFAULT_CLOUDS, VARIANTS

TABLE_1 = ("full", "full_polish", "full_settle", "full_settle_ranked", "retrieval", "optimiser")


def hardware() -> str:
    """CPU model and cores, torch threads, and the GPU when there is one."""
    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    text = f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} with {torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cell(summary: dict[str, Any] | None, name: str) -> str:
    """One figure of an evaluation summary (`evaluate_grasps`' summary["all"]) as text."""
    if summary is None:
        return "-"
    figures = {
        "lift": lambda s: _pct(s.get("lift", {}).get("success")),
        "force": lambda s: _pct(s.get("force", {}).get("success")),
        "force_strict": lambda s: _pct(s.get("force", {}).get("strict_success")),
        "max_pen": lambda s: _num(s["penetration_mm"]["mean"]),
        "under_2mm": lambda s: _pct(s["penetration_mm"]["under_2mm"]),
        "sdf_loss": lambda s: _num(s["sdf_loss_mm"], 3),
        "chamfer": lambda s: _num(s["chamfer_mm"], 1),
        "part": lambda s: _pct(s["part_alignment"]),
    }
    return figures[name](summary)


def _clouds(result, cloud: str):
    """The summary of a method on `cloud` clouds; a method whose figures do not depend on the cloud (the optimiser)
    shows its full-cloud ones."""
    return result.summaries.get(cloud, result.summaries.get("full") if result.note else None)


def table_1(results, clouds: tuple[str, ...] = ("full", "partial")) -> list[str]:
    lines = ["| method | cloud | lift | force (5 cm / 15 deg) | force strict (2 cm) | max pen. mm (mean) | "
             "pen. < 2 mm | SDF loss mm | Chamfer mm | part alignment | s per goal |", "|---" * 11 + "|"]
    for result in (r for name in TABLE_1 for r in results if r.name == name):
        for cloud in clouds:
            summary = _clouds(result, cloud)
            seconds = result.seconds_per_goal.get(cloud, result.seconds_per_goal.get("full"))
            lines.append(f"| {result.label} | {cloud} | " + " | ".join(
                _cell(summary, n) for n in ("lift", "force", "force_strict", "max_pen", "under_2mm", "sdf_loss",
                                            "chamfer", "part")) + f" | {_num(seconds, 1)} |")
    return lines


def table_2(results, plans, clouds: tuple[str, ...] = ("full", "partial")) -> list[str]:
    figures = ("sdf_loss", "chamfer", "force", "under_2mm", "part")
    names = {"sdf_loss": "SDF loss mm", "chamfer": "Chamfer mm", "force": "force success", "under_2mm": "pen. < 2 mm",
             "part": "part alignment"}
    header = " | ".join(f"{names[f]} ({c})" for f in figures for c in clouds)
    lines = [f"| variant | {header} | training time |", "|---" * (2 + len(clouds) * len(figures)) + "|"]
    by_name = {r.name: r for r in results}
    for plan in plans:
        if plan.config is None or plan.name not in by_name:  # not judged (--methods)
            continue
        result = by_name[plan.name]
        cells = " | ".join(_cell(result.summaries.get(c), f) for f in figures for c in clouds)
        minutes = "-" if plan.train_seconds is None else f"{plan.train_seconds / 60:.1f} min"
        lines.append(f"| {plan.label} | {cells} | {minutes} |")
    return lines


CLOUD_WORDS = {"full": "the object's full cloud", "partial": "one of its stored single-view clouds",
               "partial_completed": "that view completed by symmetry"}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def write_report(out: Path, config, base, plans, results, goal_counts: dict[str, int]) -> Path:
    """report.md and results.json in `out`; returns the report's path."""
    trained = [p for p in plans if p.config is not None]
    total = sum(p.train_seconds or 0.0 for p in trained)
    lines = [
        "# FLASH ablations and baselines", "",
        f"Data: `{config.data}`. Judged on split `{config.split}`: goals of an object and its high-level prompt"
        + (", each object turned about the up axis by a seeded angle" if config.turn_objects else "")
        + f", {config.grasps_per_goal} grasps per goal and method, from "
        + "; ".join(f"{CLOUD_WORDS[c]} ({_count(goal_counts.get(c, 0), 'goal')})" for c in config.clouds)
        + f"; networks integrate with {config.solver} ({config.solver_steps} steps); simulated protocols: "
        f"{', '.join(config.protocols)} (docs/eval.md). Chamfer: to the closest stored grasp of the goal's object.", "",
        f"Training: every variant is `flash train` on the same data with the full model's config and one switch: "
        f"{config.budget_steps} steps of batch {base.data.batch_size} (seed {config.seed}, device {base.device}); "
        f"{len(trained)} variants trained in {total / 60:.1f} min in all. Hardware: {hardware()}.", "",
        "Reproduce: `flash ablations --data " + f"{config.data} --out {config.out} --budget-steps {config.budget_steps}"
        f" --goals {config.goals} --grasps {config.grasps_per_goal} --split {config.split}"
        + "".join(f" --set {o}" for o in config.overrides)
        + (f" --config {config.train_config}" if config.train_config else "")
        + (f" --full-run {config.full_run}" if config.full_run else "")
        + (f" --variants {' '.join(config.variants)}" if tuple(config.variants) != VARIANTS else "")
        + (f" --clouds {' '.join(config.clouds)}" if tuple(config.clouds) != DEFAULT_CLOUDS else "")
        + (f" --methods {' '.join(config.methods)}" if config.methods else "")
        + (f" --solver {config.solver}" if config.solver != "euler" else "")
        + (f" --solver-steps {config.solver_steps}" if config.solver_steps != 16 else "")
        + (f" --ranked-pool {config.ranked_pool}" if config.ranked_pool != 4 else "")
        + (" --turn-objects" if config.turn_objects else "") + "`", "",
        "## Table 1: methods", "", *table_1(results, tuple(config.clouds)), "",
        "Max pen.: each grasp's deepest penetration of the hand's collision geometry into the object's mesh, averaged "
        "over grasps. SDF loss: mean depth of the hand's surface points inside the object.", "",
        "## Table 2: ablations", "", *table_2(results, plans, tuple(config.clouds)), "",
    ]
    notes = [f"- {p.label}: not run: {p.reason}" for p in plans if p.config is None]
    notes += [f"- {r.label}: {r.note}" for r in results if r.note]
    if notes:
        lines += ["## Notes", "", *notes, ""]
    lines += ["Per method and cloud: `eval/<method>/<cloud>/report.md` (renders of failures, failure reasons).", ""]
    path = out / "report.md"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    facts = {"settings": asdict(config), "hardware": hardware(), "goals": goal_counts,
             "variants": [{"name": p.name, "label": p.label, "run": p.config is not None, "reason": p.reason,
                           "train_seconds": p.train_seconds} for p in plans],
             "methods": [asdict(r) for r in results]}
    (out / "results.json").write_text(json.dumps(facts, indent=1))
    return path
