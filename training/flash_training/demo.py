"""`flash demo`: the built-in default job, end to end on a CPU in about a minute.

    flash demo                                   # "grasp the mug by the handle", LEAP hand
    flash demo --prompt "hold the hammer by its head" --hand allegro --out outputs/hammer
    flash demo --mesh path/to/object.stl         # your own object (metres; --scale 0.001 for millimetres)

What it does today: it builds the object (a part-labelled procedural model the prompt names: mug, hammer, knife,
drill, ...; or the mesh file given, repaired to be water-tight like the data set's meshes, with the part labels of
a `<stem>.parts.json` beside it when there is one), finds the part the prompt names ("handle", "head", ...),
synthesises grasps aimed at that part with FLASH-Drive's physics-based optimisation (the data pipeline that trains
the network) and assesses them as the data set does (`flash_training.assess`: penetration of the hand's official
collision geometry < 2 mm, at least three fingers including the thumb within 5 mm, self-collision < 2 mm; the
part each finger touches), describes each grasp in words generated from those labels, and writes pictures and
JSON. It does not use a trained network: no trained FLASH checkpoint ships with the project yet (see README).
An object it does not know or a mesh file it cannot use ends the command with one line saying why.

Outputs in --out: grasps.png (best grasps, two views each), grasps.json.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

DEFAULT_PROMPT = "grasp the mug by the handle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="what to do, naming an object and optionally a part")
    parser.add_argument("--object", default=None, help="procedural object category (default: the one the prompt names)")
    parser.add_argument("--mesh", default=None, help="a mesh file (OBJ/STL/PLY/GLB) to grasp instead")
    parser.add_argument("--scale", type=float, default=1.0, help="metres per unit of --mesh (0.001 for millimetres)")
    parser.add_argument("--hand", default="leap", choices=("leap", "allegro"), help="the hand")
    parser.add_argument("--grasps", type=int, default=12, help="candidates to synthesise")
    parser.add_argument("--show", type=int, default=3, help="best grasps to draw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="outputs/demo", help="output folder")


def find_target(prompt: str, categories: list[str], part_names_of) -> tuple[str, str | None]:
    """(category, part or None) named in the prompt. part_names_of(category) -> that category's part names."""
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    named = [c for c in categories if c in words]
    if not named:
        raise ValueError(f"the prompt names none of the built-in objects ({', '.join(categories)}); "
                         "pass --object or --mesh")
    category = named[0]
    return category, named_part(prompt, part_names_of(category))


def named_part(prompt: str, part_names: tuple[str, ...]) -> str | None:
    """The first of `part_names` the prompt names, or None."""
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    return next((p for p in part_names if p in words), None)


def load_object(args: argparse.Namespace):
    """(ObjectAsset, category, target part or None) for the demo's arguments; ValueError / FileNotFoundError /
    KeyError say what is wrong."""
    from flash_training.data.objects.procedural import CATEGORIES, ProceduralSource
    from flash_training.data.objects.user_mesh import load_user_mesh

    if args.mesh:
        asset = load_user_mesh(args.mesh, args.scale)
        return asset, asset.category, named_part(args.prompt, asset.part_names)
    categories = sorted(CATEGORIES)
    if args.object is not None and args.object not in CATEGORIES:
        raise ValueError(f"--object {args.object!r} is not a built-in object; choose one of {', '.join(categories)} "
                         "or pass --mesh")
    source = ProceduralSource(count_per_category=1, seed=args.seed)
    assets = {}

    def part_names_of(category: str) -> tuple[str, ...]:
        if category not in assets:
            assets[category] = source.load(f"{category}_000")  # the first object of the category
        return assets[category].part_names

    if args.object:
        category, part = args.object, named_part(args.prompt, part_names_of(args.object))
    else:
        category, part = find_target(args.prompt, categories, part_names_of)
    return assets[category], category, part


def run(args: argparse.Namespace) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from flash_core.hands import make_hand
    from flash_core.sim.render import View, render_grasps, save_png
    from flash_training.assess import AcceptanceConfig, AssessedObject, assess_grasps
    from flash_training.data.processing import MeshProcessingError, ProcessingConfig, process_object
    from flash_training.data.synthesis import SynthesisConfig, synthesize_grasps
    from flash_training.data.text import ContactSummary, describe_grasp

    if args.grasps < 1 or args.show < 0:
        raise SystemExit(f"flash demo: --grasps must be >= 1 and --show >= 0, got {args.grasps} and {args.show}")
    console = Console()
    started = time.monotonic()
    out = Path(args.out)
    try:
        asset, category, part = load_object(args)
        with console.status(f"building the {category} and its signed distance field"):
            obj = process_object(asset, ProcessingConfig(num_points=1024, seed=args.seed))
    except (ValueError, KeyError, FileNotFoundError, MeshProcessingError) as exc:
        raise SystemExit(f"flash demo: {exc.args[0] if isinstance(exc, KeyError) else exc}") from None
    masks = None
    if part is not None:
        mask = obj.point_parts == obj.asset.part_names.index(part)
        masks = np.repeat(mask[None], args.grasps, axis=0)
    console.print(f"[bold]{args.prompt!r}[/]: {category} (parts {', '.join(obj.asset.part_names)}), "
                  f"target part: {part or 'anywhere'}, {args.hand} hand, {args.grasps} candidates")
    for note in obj.notes:
        console.print(f"  mesh: {note}")

    hand = make_hand(args.hand)
    with console.status("synthesising and optimising grasps"):
        result = synthesize_grasps(hand, obj.sdf, obj.points, obj.normals, args.grasps, SynthesisConfig(),
                                   seed=args.seed, target_masks=masks, grid=obj.sdf_grid)
    with console.status("assessing grasps (dense penetration, self-collision, contacts)"):
        x = result.optimized.detach()
        assessment = assess_grasps(hand, x, AssessedObject.from_processed(obj), AcceptanceConfig())

    grasps = []
    for i in range(args.grasps):
        labels = assessment.part_labels(i)
        grasps.append({
            "x": x[i].cpu().numpy().round(6).tolist(),
            "accepted": bool(assessment.accepted[i]), "rejected_because": assessment.reasons[i],
            "on_target_part": part is None or part in labels,
            "max_penetration_mm": round(float(assessment.max_penetration_m[i]) * 1000, 3),
            "self_penetration_mm": round(float(assessment.self_penetration_m[i]) * 1000, 3),
            "finger_distance_mm": dict(zip(hand.finger_names,
                                           (assessment.finger_distance_m[i] * 1000).round(3).tolist(), strict=True)),
            "finger_parts": dict(zip(hand.finger_names, labels, strict=True)),
            "text": describe_grasp(ContactSummary(category, tuple(hand.finger_names), labels), f"demo|{i}"),
        })
    # Accepted grasps on the named part first, then by penetration.
    order = sorted(range(args.grasps), key=lambda i: (not grasps[i]["accepted"], not grasps[i]["on_target_part"],
                                                      grasps[i]["max_penetration_mm"]))
    ranked = [grasps[i] for i in order]

    table = Table(title=f"{args.hand} grasps for {args.prompt!r}")
    for column in ("rank", "accepted", "on part", "pen. mm", "self mm", "fingers on", "high-level text"):
        table.add_column(column)
    for rank, g in enumerate(ranked):
        on = ", ".join(f"{f}:{p}" for f, p in g["finger_parts"].items() if p)
        table.add_row(str(rank), "yes" if g["accepted"] else f"no ({g['rejected_because']})",
                      "yes" if g["on_target_part"] else "no", f"{g['max_penetration_mm']:.2f}",
                      f"{g['self_penetration_mm']:.2f}", on, g["text"]["high"])
    console.print(table)

    show = ranked[: args.show]
    picture = None
    if show:
        with console.status("rendering"):
            image = render_grasps(args.hand, np.array([g["x"] for g in show]), obj.asset.mesh,
                                  views=(View(), View(azimuth_deg=-45.0, elevation_deg=-35.0)))
        picture = save_png(image, out / "grasps.png")
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "prompt": args.prompt, "object": obj.asset.object_id, "category": category, "part": part,
        "mesh": str(args.mesh) if args.mesh else None, "mesh_notes": obj.notes,
        "hand": args.hand, "hand_source": hand.source,
        "frame": "object frame (bounding-box centre at the origin), metres",
        "accepted": int(assessment.accepted.sum()),
        "accepted_on_part": sum(g["accepted"] and g["on_target_part"] for g in ranked),
        "seconds": round(time.monotonic() - started, 1), "grasps": ranked,
        "method": "FLASH-Drive grasp synthesis (no trained network)",
    }
    (out / "grasps.json").write_text(json.dumps(summary, indent=1))
    console.print(f"{summary['accepted']}/{args.grasps} accepted "
                  f"({summary['accepted_on_part']} on the {part or 'object'}); "
                  f"wrote {picture or 'no picture'} and {out / 'grasps.json'} in {summary['seconds']} s")
