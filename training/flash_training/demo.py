"""`flash demo`: the built-in default job, end to end on a CPU in about a minute.

    flash demo                                   # "grasp the mug by the handle", LEAP hand
    flash demo --prompt "hold the hammer by its head" --hand allegro --out outputs/hammer

What it does today: it builds the object the prompt names (a part-labelled procedural model: mug, hammer,
knife, drill, ...), finds the part the prompt names ("handle", "head", ...), synthesises grasps aimed at
that part with FLASH-Drive's physics-based optimisation (the data pipeline that trains the network), checks
them against FLASH-Drive's acceptance test (penetration < 2 mm, at least three fingers including the thumb
within 5 mm, no self-collision), labels which part each finger touches, describes each grasp in words
generated from those labels, and writes pictures and JSON. It does not use a trained network: no trained
FLASH checkpoint ships with the project yet (see README).

Outputs in --out: grasps.png (best grasps, two views each), grasps.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import time
from pathlib import Path

DEFAULT_PROMPT = "grasp the mug by the handle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="what to do, naming an object and optionally a part")
    parser.add_argument("--object", default=None, help="procedural object category (default: the one the prompt names)")
    parser.add_argument("--hand", default="leap", help="leap or allegro")
    parser.add_argument("--grasps", type=int, default=12, help="candidates to synthesise")
    parser.add_argument("--show", type=int, default=3, help="best grasps to draw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="outputs/demo", help="output folder")


def find_target(prompt: str, categories: list[str], part_names_of) -> tuple[str, str | None]:
    """(category, part or None) named in the prompt. part_names_of(category) -> that category's part names."""
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    named = [c for c in categories if c in words]
    if not named:
        raise ValueError(f"the prompt names none of the built-in objects {categories}; pass --object")
    category = named[0]
    parts = [p for p in part_names_of(category) if p in words]
    return category, parts[0] if parts else None


def run(args: argparse.Namespace) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from flash_core.hands import make_hand
    from flash_core.sim.render import View, render_grasps, save_png
    from flash_training.data.contacts import AcceptanceConfig, finger_parts, rejection_reasons
    from flash_training.data.grasp_energy import measure_grasps
    from flash_training.data.objects.procedural import CATEGORIES, ProceduralSource
    from flash_training.data.processing import ProcessingConfig, process_object
    from flash_training.data.synthesis import SynthesisConfig, synthesize_grasps
    from flash_training.data.text import ContactSummary, describe_grasp

    console = Console()
    started = time.monotonic()
    out = Path(args.out)
    source = ProceduralSource(count_per_category=1, seed=args.seed)

    # The first object of each category; cached so the mesh named by the prompt is built once.
    load = functools.cache(lambda category: source.load(f"{category}_000"))

    def part_names_of(category: str) -> tuple[str, ...]:
        return load(category).part_names

    if args.object:
        category, part = args.object, find_target(f"{args.object} {args.prompt}", [args.object], part_names_of)[1]
    else:
        category, part = find_target(args.prompt, sorted(CATEGORIES), part_names_of)
    with console.status(f"building the {category} and its signed distance field"):
        obj = process_object(load(category), ProcessingConfig(num_points=1024, seed=args.seed))
    masks = None
    if part is not None:
        mask = obj.point_parts == obj.asset.part_names.index(part)
        masks = np.repeat(mask[None], args.grasps, axis=0)
    console.print(f"[bold]{args.prompt!r}[/]: {category} (parts {', '.join(obj.asset.part_names)}), "
                  f"target part: {part or 'anywhere'}, {args.hand} hand, {args.grasps} candidates")

    hand = make_hand(args.hand)
    with console.status("synthesising and optimising grasps"):
        result = synthesize_grasps(hand, obj.sdf, obj.points, obj.normals, args.grasps, SynthesisConfig(),
                                   seed=args.seed, target_masks=masks, grid=obj.sdf_grid)
    acceptance = AcceptanceConfig()
    measures = measure_grasps(hand, result.optimized, obj.sdf)
    reasons = rejection_reasons(measures, list(hand.finger_names), acceptance)
    touched = finger_parts(measures, obj.sdf, obj.asset.face_parts, acceptance.contact_threshold_m)

    grasps = []
    for i in range(args.grasps):
        labels = tuple(obj.asset.part_names[p] if p >= 0 else None for p in touched[i])
        on_target = part is None or part in labels
        grasps.append({
            "x": result.optimized[i].detach().cpu().numpy().round(6).tolist(),
            "accepted": reasons[i] is None, "rejected_because": reasons[i], "on_target_part": on_target,
            "max_penetration_mm": round(float(measures.max_penetration_m[i]) * 1000, 3),
            "finger_distance_mm": dict(zip(hand.finger_names, (measures.finger_distance_m[i] * 1000).tolist())),
            "finger_parts": dict(zip(hand.finger_names, labels)),
            "text": describe_grasp(ContactSummary(category, tuple(hand.finger_names), labels), f"demo|{i}"),
        })
    # Accepted grasps on the named part first, then by penetration.
    order = sorted(range(args.grasps), key=lambda i: (not grasps[i]["accepted"], not grasps[i]["on_target_part"],
                                                      grasps[i]["max_penetration_mm"]))
    ranked = [grasps[i] for i in order]

    table = Table(title=f"{args.hand} grasps for {args.prompt!r}")
    for column in ("rank", "accepted", "on part", "max pen. mm", "fingers on", "high-level text"):
        table.add_column(column)
    for rank, g in enumerate(ranked):
        on = ", ".join(f"{f}:{p}" for f, p in g["finger_parts"].items() if p)
        table.add_row(str(rank), "yes" if g["accepted"] else f"no ({g['rejected_because']})",
                      "yes" if g["on_target_part"] else "no", f"{g['max_penetration_mm']:.2f}", on, g["text"]["high"])
    console.print(table)

    show = ranked[: args.show]
    with console.status("rendering"):
        image = render_grasps(args.hand, np.array([g["x"] for g in show]), obj.asset.mesh,
                              views=(View(), View(azimuth_deg=-45.0, elevation_deg=-35.0)))
    picture = save_png(image, out / "grasps.png")
    summary = {
        "prompt": args.prompt, "object": obj.asset.object_id, "category": category, "part": part,
        "hand": args.hand, "hand_source": hand.source,
        "frame": "object frame (bounding-box centre at the origin), metres",
        "accepted": sum(g["accepted"] for g in ranked),
        "accepted_on_part": sum(g["accepted"] and g["on_target_part"] for g in ranked),
        "seconds": round(time.monotonic() - started, 1), "grasps": ranked,
        "method": "FLASH-Drive grasp synthesis (no trained network)",
    }
    (out / "grasps.json").write_text(json.dumps(summary, indent=1))
    console.print(f"{summary['accepted']}/{args.grasps} accepted "
                  f"({summary['accepted_on_part']} on the {part or 'object'}); "
                  f"wrote {picture} and {out / 'grasps.json'} in {summary['seconds']} s")
