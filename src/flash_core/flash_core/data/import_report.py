"""The build report's section on imported grasps: how many were refined, kept and rejected, and what refinement did.

`write_build_report` writes the general report (report.py) and appends this section when the data set holds
imported units; `flash dataset build` and `flash dataset report` both use it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from flash_core.data.report import write_report
from flash_core.data.storage import DatasetReader


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
    built = {hand for _, hand in by_source}
    missing = [h for h in reader.manifest["config"]["hands"] if h not in built]
    if missing:
        lines += [
            "",
            f"No imported units for {', '.join(missing)}: the imported files hold no grasps for "
            f"{'it' if len(missing) == 1 else 'them'} (Allegro grasps are not converted to LEAP: "
            "flash_core.hands.pose maps joint angles but not the wrist frame).",
        ]
    return lines


def write_build_report(root: str | Path) -> Path:
    """report.md (report.py) plus the imported-grasps section; returns its path."""
    path = write_report(root)
    section = import_section(DatasetReader(root))
    if section:
        path.write_text(path.read_text() + "\n".join(section) + "\n")
    return path
