"""The build report: `report.md` plus PNG histograms, written from what the data set folder holds.

Everything comes from the manifest (per-unit statistics, skipped objects) and the stored grasps, so the
report of a resumed build covers the whole data set, not just the last run.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from flash_training.data.storage import DatasetReader


def _histogram(path: Path, title: str, before: np.ndarray, after: np.ndarray, threshold_mm: float, xlabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on build machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = max(np.percentile(np.concatenate([before, after]), 99), threshold_mm * 2) if len(before) else 1.0
    bins = np.linspace(0, top, 40)
    ax.hist(np.clip(before, 0, top), bins=bins, alpha=0.5, label="before optimisation")
    ax.hist(np.clip(after, 0, top), bins=bins, alpha=0.5, label="after optimisation")
    ax.axvline(threshold_mm, color="k", linestyle="--", label=f"threshold {threshold_mm:g} mm")
    ax.set(title=title, xlabel=xlabel, ylabel="grasps")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _reason_kind(reason: str) -> str:
    """A simulated failure in words without its numbers: "moved 6.1 cm under +x" -> "moved under +x"."""
    reason = reason.split(" (")[0]
    return re.sub(r" \d+(\.\d+)? (cm|deg|mm)", "", re.sub(r" > \d+(\.\d+)? mm", "", reason))


def _simulation_lines(stats: dict, object_split: dict[str, str]) -> list[str]:
    """The simulated acceptance stage (protocol (b) on accepted candidates, best first, until the quota holds):
    per object split and hand, and per category, the candidates simulated, held and the kept fraction; the failures
    by kind. object_split: object id -> its split (train, unseen_object, unseen_category)."""
    simulated = {u: s for u, s in stats.items() if "simulated" in s}
    if not simulated:
        return []
    per_category: dict[str, Counter] = defaultdict(Counter)
    per_split: dict[tuple[str, str], Counter] = defaultdict(Counter)  # (split, hand) -> counts
    reasons: Counter = Counter()
    for unit, s in simulated.items():
        results = s["simulated"].values()
        object_id, hand = unit.split("|")
        for counts in (per_category[s["category"]], per_split[object_split.get(object_id, "?"), hand],
                       per_split["all", hand]):
            counts["passing"] += s["passing"]
            counts["simulated"] += len(results)
            counts["held"] += sum(r["held"] for r in results)
        reasons.update(_reason_kind(r["reason"]) for r in results if not r["held"])
    total = sum(per_category.values(), Counter())  # each unit once (per_split counts it under "all" too)
    lines = [
        "",
        "## Simulated acceptance (protocol (b), docs/eval.md)",
        "",
        "Accepted candidates run through DexGraspBench's force-closure test, best first, until the unit's quota "
        "holds; only those that hold are kept.",
        "",
        f"- simulated {total['simulated']} of {total['passing']} accepted candidates; held {total['held']} "
        f"({100 * total['held'] / max(1, total['simulated']):.1f} %)",
        "",
        "| object split | hand | accepted | simulated | held | kept fraction |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {split} | {hand} | {n['passing']} | {n['simulated']} | {n['held']} | "
              f"{100 * n['held'] / max(1, n['simulated']):.0f} % |" for (split, hand), n in sorted(per_split.items())]
    lines += [
        "",
        "| category | accepted | simulated | held | kept fraction |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {c} | {n['passing']} | {n['simulated']} | {n['held']} | "
              f"{100 * n['held'] / max(1, n['simulated']):.0f} % |" for c, n in sorted(per_category.items())]
    lines += ["", "| simulated failure | count |", "|---|---|"]
    lines += [f"| {r} | {n} |" for r, n in reasons.most_common()] or ["| (none) | 0 |"]
    return lines


def write_report(root: str | Path) -> Path:
    root = Path(root)
    reader = DatasetReader(root)
    stats = reader.unit_stats()
    acceptance = reader.manifest["config"]["acceptance"]
    pen_limit_mm = acceptance["max_penetration_m"] * 1000
    contact_mm = acceptance["contact_threshold_m"] * 1000
    gather = lambda stage, key: np.array([v for s in stats.values() for v in s[stage].get(key, ())]) * 1000  # noqa: E731
    pen_before, pen_after = gather("before", "max_penetration_m"), gather("after", "max_penetration_m")
    dist_before, dist_after = gather("before", "contact_distance_m"), gather("after", "contact_distance_m")
    _histogram(
        root / "penetration.png",
        "Deepest hand point inside the object",
        pen_before,
        pen_after,
        pen_limit_mm,
        "max penetration (mm)",
    )
    _histogram(
        root / "contact_distance.png",
        "Mean finger-to-surface distance",
        dist_before,
        dist_after,
        contact_mm,
        "distance (mm)",
    )

    kept_pen_mm = reader.penetration_m * 1000
    hands = reader.hands
    per_hand = Counter(hands[h] for h in reader.grasp_hand)
    splits = Counter(reader.grasp_split())
    rejected = Counter()
    for s in stats.values():
        rejected.update(s["rejected"])
    candidates = sum(s["candidates"] for s in stats.values())
    categories = Counter(reader.objects[o]["category"] for o in reader.grasp_object)
    fingers = reader.finger_part >= 0
    share_clean = float(np.mean(kept_pen_mm < pen_limit_mm) * 100) if len(reader) else 0.0
    mean_fingers = float(fingers.sum(1).mean()) if len(reader) else 0.0
    lines = [
        "# FLASH-Drive build report",
        "",
        f"- objects stored: {len(reader.objects)}; skipped: {len(reader.manifest.get('skipped_objects', {}))}",
        f"- grasps kept: {len(reader)} of {candidates} candidates ({', '.join(f'{h}: {n}' for h, n in per_hand.items())})",  # noqa: E501
        f"- splits: {', '.join(f'{k}: {v}' for k, v in sorted(splits.items()))}",
        f"- kept grasps with max penetration < {pen_limit_mm:g} mm: {share_clean:.1f} %",
        f"- fingers in contact per kept grasp (within {contact_mm:g} mm): mean {mean_fingers:.2f}",
        "",
        "## Before and after optimisation (all candidates)",
        "",
        "| metric | before median | after median | after p95 |",
        "|---|---|---|---|",
    ]
    self_before, self_after = gather("before", "self_penetration_m"), gather("after", "self_penetration_m")
    for name, b, a in (
        ("max penetration (mm)", pen_before, pen_after),
        ("self-penetration (mm)", self_before, self_after),
        ("mean contact distance (mm)", dist_before, dist_after),
    ):
        if len(a):
            lines.append(f"| {name} | {np.median(b):.2f} | {np.median(a):.2f} | {np.percentile(a, 95):.2f} |")
    lines += [
        "",
        "![penetration](penetration.png)",
        "",
        "![contact distance](contact_distance.png)",
        "",
        "## Rejected candidates",
        "",
        "| reason | count |",
        "|---|---|",
    ]
    lines += [f"| {reason} | {count} |" for reason, count in rejected.most_common()] or ["| (none) | 0 |"]
    surplus = sum(s["surplus_passing_not_kept"] for s in stats.values())
    lines += [
        "",
        f"Passing candidates beyond the per-hand quota (not stored): {surplus}.",
        "",
        "## Grasps per category",
        "",
        "| category | grasps |",
        "|---|---|",
    ]
    lines += [f"| {c} | {n} |" for c, n in sorted(categories.items())]
    lines += _simulation_lines(stats, {o["object_id"]: o["split"] for o in reader.objects})
    short = [(u, s) for u, s in stats.items() if s["kept"] < reader.manifest["config"]["grasps_per_hand"]]
    if short:
        lines += ["", "## Units below the grasp quota", ""]
        lines += ["| object and hand | kept | candidates | rejected because |", "|---|---|---|---|"]
        lines += [f"| {u} | {s['kept']} | {s['candidates']} | "
                  f"{'; '.join(f'{r}: {n}' for r, n in Counter(s['rejected']).most_common()) or '-'} |"
                  for u, s in short]
    skipped = reader.manifest.get("skipped_objects", {})
    lines += ["", "## Skipped objects", ""]
    lines += [f"- `{o}`: {reason}" for o, reason in skipped.items()] or ["(none)"]
    repaired = [(o["object_id"], o["meta"].get("notes")) for o in reader.objects if o["meta"].get("notes")]
    if repaired:
        lines += ["", "## Repaired or rescaled objects", ""] + [f"- `{o}`: {'; '.join(n)}" for o, n in repaired]
    path = root / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
