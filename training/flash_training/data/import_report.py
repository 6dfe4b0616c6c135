"""The build report's section on imported grasps: how many were refined, kept and rejected, and what refinement did;
for grasps retargeted to another hand (Allegro -> LEAP) also the fingertip residuals of the retargeting.

`write_build_report` writes the general report (report.py) and appends this section when the data set holds
imported units; `flash dataset build` and `flash dataset report` both use it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from flash_training.data.report import write_report
from flash_training.data.storage import DatasetReader


def import_section(reader: DatasetReader) -> list[str]:
    """Markdown lines for the imported units of a data set (empty when it has none)."""
    units = {u: s for u, s in reader.unit_stats().items() if "imported" in s}
    if not units:
        return []
    by_source: dict[tuple[str, str], list[dict]] = {}
    for unit, stats in units.items():
        by_source.setdefault((stats["imported"]["source"], unit.rsplit("|", 1)[1]), []).append(stats)
    lines = [
        "",
        "## Imported grasps (refined instead of synthesised)",
        "",
        "| source | hand | objects | refined | passing as imported | kept after refinement | rejected |",
        "|---|---|---|---|---|---|---|",
    ]
    for (source, hand), group in sorted(by_source.items()):
        refined = sum(s["candidates"] for s in group)
        lines.append(
            f"| {source} | {hand} | {len(group)} | {refined} | {sum(s['passing_before'] for s in group)} "
            f"| {sum(s['kept'] for s in group)} | {refined - sum(s['passing'] for s in group)} |"
        )
    mm = lambda stage, key: np.array([v for s in units.values() for v in s[stage][key]]) * 1000  # noqa: E731
    lines += [
        "",
        "| metric (imported grasps) | before median | after median | before p95 | after p95 |",
        "|---|---|---|---|---|",
    ]
    for name, key in (
        ("max penetration (mm)", "max_penetration_m"),
        ("mean contact distance (mm)", "contact_distance_m"),
    ):
        before, after = mm("before", key), mm("after", key)
        finite = np.isfinite(before) & np.isfinite(after)
        before, after = before[finite], after[finite]
        if len(after):
            lines.append(
                f"| {name} | {np.median(before):.2f} | {np.median(after):.2f} "
                f"| {np.percentile(before, 95):.2f} | {np.percentile(after, 95):.2f} |"
            )
    rejected = Counter()
    for stats in units.values():
        rejected.update(stats["rejected"])
    lines += ["", "| rejected after refinement, reason | count |", "|---|---|"]
    lines += [f"| {reason} | {count} |" for reason, count in rejected.most_common()] or ["| (none) | 0 |"]
    lines += retarget_section(units)
    built = {hand for _, hand in by_source}
    missing = [h for h in reader.manifest["config"]["hands"] if h not in built]
    if missing:
        lines += [
            "",
            f"No imported units for {', '.join(missing)}: the imported files hold no grasps for "
            f"{'it' if len(missing) == 1 else 'them'}, nor grasps of a hand to retarget from "
            "(flash_training.data.build.RETARGET_FROM).",
        ]
    return lines


def retarget_section(units: dict[str, dict]) -> list[str]:
    """Markdown lines on the imported units whose grasps were retargeted from another hand (empty if none):
    fingertip residuals of the retargeting, then what refinement and the acceptance test made of them."""
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for unit, stats in units.items():
        if "retargeted" in stats:
            by_pair.setdefault((stats["retargeted"]["from"], unit.rsplit("|", 1)[1]), []).append(stats)
    if not by_pair:
        return []
    lines = [
        "",
        "## Retargeted imported grasps (flash_core.hands.retarget, then refined)",
        "",
        "Fingertip residual: the mean distance (mm) between the two hands' fingertips, finger by finger, after "
        "retargeting and before refinement.",
        "",
        "| from | to | objects | retargeted | residual median (mm) | residual p95 (mm) | passing as retargeted "
        "| kept after refinement | rejected |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rejected: dict[tuple[str, str], Counter] = {}
    for (source, target), group in sorted(by_pair.items()):
        residual = np.array([v for s in group for v in s["retargeted"]["fingertip_error_mm"]])
        count = sum(s["candidates"] for s in group)
        lines.append(
            f"| {source} | {target} | {len(group)} | {count} | {np.median(residual):.2f} "
            f"| {np.percentile(residual, 95):.2f} | {sum(s['passing_before'] for s in group)} "
            f"| {sum(s['kept'] for s in group)} | {count - sum(s['passing'] for s in group)} |"
        )
        rejected[source, target] = sum((Counter(s["rejected"]) for s in group), Counter())
    lines += ["", "| retargeted, rejected after refinement, reason | count |", "|---|---|"]
    rows = [
        f"| {source} -> {target}: {reason} | {n} |"
        for (source, target), counts in sorted(rejected.items())
        for reason, n in counts.most_common()
    ]
    return lines + (rows or ["| (none) | 0 |"])


def write_build_report(root: str | Path) -> Path:
    """report.md (report.py) plus the imported-grasps section; returns its path."""
    path = write_report(root)
    section = import_section(DatasetReader(root))
    if section:
        path.write_text(path.read_text() + "\n".join(section) + "\n")
    return path
