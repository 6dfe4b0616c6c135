"""What `flash demo` shows and writes: one record per grasp, ranked; the table; grasps.png and grasps.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def grasp_records(result, x: np.ndarray, hand, category: str, part: str | None,
                  part_names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per grasp of an `EvalResult` (poses x (K, 25)): verdicts, measures and words; best first: held in the
    force-closure test and accepted, held in the force-closure test, held in the lift, accepted, on the named part,
    then least penetration."""
    from flash_training.data.text import ContactSummary, describe_grasp

    records = []
    for g in result.grasps:
        geometry = g.geometry
        labels = tuple(geometry.finger_parts[f] for f in hand.finger_names)
        records.append({
            "x": np.round(x[g.index], 6).tolist(),
            "force": None if g.force is None else bool(g.force.success),
            "force_reason": None if g.force is None else g.force.reason,
            "lift": None if g.lift is None else bool(g.lift.success),
            "lift_reason": None if g.lift is None else g.lift.reason,
            "accepted": geometry.accepted, "rejected_because": geometry.rejected_because,
            "on_target_part": part is None or part in labels,
            "max_penetration_mm": round(geometry.penetration_m * 1000, 3),
            "self_penetration_mm": round(geometry.self_penetration_m * 1000, 3),
            "finger_parts": dict(zip(hand.finger_names, labels, strict=True)),
            "text": describe_grasp(ContactSummary(category, tuple(hand.finger_names), labels, tuple(part_names)),
                                   f"demo|{g.index}"),
        })
    return sorted(records, key=lambda r: (not (r["force"] and r["accepted"]), not r["force"], not r["lift"],
                                          not r["accepted"], not r["on_target_part"], r["max_penetration_mm"]))


def _verdict(held: bool | None) -> str:
    return "-" if held is None else "held" if held else "no"


def print_table(console, records: list[dict[str, Any]], title: str, protocols: tuple[str, ...]) -> None:
    """Verdicts in words; why a grasp failed each test is in grasps.json."""
    from rich.table import Table

    table = Table(title=title)
    names = {"force": "force closure", "lift": "lift"}
    for column in ("rank", *(names[p] for p in protocols), "accepted", "on part", "pen. mm", "self mm",
                   "fingers on", "high-level text"):
        table.add_column(column)
    for rank, r in enumerate(records):
        on = ", ".join(f"{f}:{p}" for f, p in r["finger_parts"].items() if p)
        table.add_row(str(rank), *(_verdict(r[p]) for p in protocols), "yes" if r["accepted"] else "no",
                      "yes" if r["on_target_part"] else "no", f"{r['max_penetration_mm']:.2f}",
                      f"{r['self_penetration_mm']:.2f}", on, r["text"]["high"])
    console.print(table)


def write_outputs(out: Path, records: list[dict[str, Any]], hand: str, mesh, show: int,
                  facts: dict[str, Any]) -> list[Path]:
    """grasps.png (the best `show` grasps on the object, two views each) and grasps.json (facts + records)."""
    from flash_core.sim.render import View, render_grasps, save_png

    out.mkdir(parents=True, exist_ok=True)
    written = []
    if show and records:
        best = np.array([r["x"] for r in records[:show]])
        image = render_grasps(hand, best, mesh, views=(View(), View(azimuth_deg=-45.0, elevation_deg=-35.0)))
        written.append(save_png(image, out / "grasps.png"))
    path = out / "grasps.json"
    path.write_text(json.dumps({**facts, "grasps": records}, indent=1, default=_plain))
    return [*written, path]


def _plain(value):
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
