"""`flash demo`: the built-in default job, end to end on a CPU: grasps for a sentence, judged and drawn.

    flash demo                                   # "grasp the mug by the handle", the default model
    flash demo --prompt "hold the hammer by its head" --out outputs/hammer
    flash demo --mesh path/to/object.stl         # your own object (metres; --scale 0.001 for millimetres)
    flash demo --checkpoint runs/x/model         # a model of your own (`flash train`'s <run>/model)
    flash demo --cloud partial --polish          # what one depth camera sees; polish the grasps against it
    flash demo --cloud partial --settle          # settle the grasps on it for an open-hand approach
    flash demo --method optimiser                # the geometry-only optimiser, the baseline

1. The object: a part-labelled procedural model the prompt names (mug, hammer, knife, drill, ...), or the mesh
   file given, repaired to be water-tight like the data set's meshes (part labels from a `<stem>.parts.json`
   beside it, when there is one); the part the prompt names ("handle", "head", ...).
2. Its cloud as the data set samples it (points with normals), or one single-view partial cloud (`--cloud
   partial`, a depth camera over a table as FLASH-Drive renders them).
3. Grasps (`flash_training.grasp_methods`): by default the FLASH network, `GraspGenerator` with the packaged default
   model or `--checkpoint`, from the prompt and the cloud alone (`--polish`: a few gradient steps against the
   cloud afterwards; `--settle`: the open hand slid along its approach onto the cloud, fingers closed until they
   touch it, `flash_core.model.settle`). While no default model ships, the demo says so and uses the optimiser.
   `--method optimiser`: FLASH-Drive's geometry-only synthesis aimed at the named part, given the mesh.
4. Judged (`flash_training.eval.evaluate_grasps`): the data set's acceptance test (`flash_training.assess`:
   penetration of the hand's official collision geometry < 2 mm, at least three fingers including the thumb within
   3.5 mm, self-collision < 2 mm, contacts that resist protocol (b)'s pushes with half its friction; the part each
   finger touches) and the simulator: protocol (b), DexGraspBench's force-closure test, and (a), the FLASH paper's
   lift (docs/eval.md).
5. A table, renders of the best grasps on the object (grasps.png) and grasps.json in --out (`demo_output`).
An object it does not know, a mesh file or checkpoint it cannot use ends the command with one line saying why.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

DEFAULT_PROMPT = "grasp the mug by the handle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="what to do, naming an object and optionally a part")
    parser.add_argument("--object", default=None, help="procedural object category (default: the one the prompt names)")
    parser.add_argument("--mesh", default=None, help="a mesh file (OBJ/STL/PLY/GLB) to grasp instead")
    parser.add_argument("--scale", type=float, default=1.0, help="metres per unit of --mesh (0.001 for millimetres)")
    parser.add_argument("--method", choices=("network", "optimiser"), default=None,
                        help="network: a FLASH model (default, when one is available); optimiser: the baseline")
    parser.add_argument("--checkpoint", default=None,
                        help="FLASH model folder (default: the packaged default model)")
    parser.add_argument("--hand", default=None, choices=("leap", "allegro"),
                        help="the hand (default: the model's; leap for the optimiser)")
    parser.add_argument("--cloud", choices=("full", "partial"), default="full",
                        help="the object cloud the network sees: sampled all round, or one depth camera's view")
    parser.add_argument("--polish", action="store_true", help="polish the network's grasps against the cloud")
    parser.add_argument("--settle", action="store_true",
                        help="settle the network's grasps on the cloud (open-hand approach, fingers closed to contact)")
    parser.add_argument("--solver", choices=("euler", "midpoint", "rk4", "dopri5", "dopri8"), default="euler",
                        help="the network's ODE solver")
    parser.add_argument("--steps", type=int, default=16, help="steps of a fixed-step solver")
    parser.add_argument("--grasps", type=int, default=12, help="grasps to generate")
    parser.add_argument("--protocol", choices=("force", "lift", "both"), default="both",
                        help="simulated tests: force closure (b), the paper's lift (a), or both")
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


def choose_method(args: argparse.Namespace, processed: dict, note) -> tuple:
    """(GraspMethod, HandModel, method description) for the arguments; ValueError / FileNotFoundError say what is
    wrong. `note(text)` tells the user about a fallback. `processed` (object key -> ProcessedObject): the objects
    the optimiser may use as they are, filled by the caller."""
    from flash_core.flow.solver import FIXED_STEP_METHODS, SolverConfig
    from flash_core.generator import GraspGenerator, default_checkpoint
    from flash_core.hands import make_hand
    from flash_training.baselines.optimiser import OptimiserMethod
    from flash_training.data.synthesis import SynthesisConfig
    from flash_training.grasp_methods import NetworkMethod

    path = args.checkpoint or (default_checkpoint() if args.method != "optimiser" else None)
    if args.method != "optimiser" and path is None:
        if args.method == "network":
            raise ValueError("no default FLASH model ships with this installation yet: pass --checkpoint "
                             "(a `flash train` run's model folder) or use --method optimiser")
        note("no default FLASH model ships yet (it is trained once the default data set is built; see README): "
             "using the geometry-only optimiser (--method optimiser) instead of the network")
    if path is None:
        hand = make_hand(args.hand or "leap")
        return OptimiserMethod(hand, SynthesisConfig(), processed=processed), hand, \
            "FLASH-Drive geometry-only grasp optimisation (no trained network)"
    solver = SolverConfig(method=args.solver, steps=args.steps)
    generator = GraspGenerator.from_checkpoint(path, solver=solver)
    if args.hand is not None and args.hand != generator.hand.name:
        raise ValueError(f"the model at {path} is for the {generator.hand.name} hand, not --hand {args.hand}")
    if generator.model.config.use_semantics:
        raise ValueError(f"the model at {path} needs per-point semantic features, which the demo does not compute; "
                         "judge it with `flash eval` on a data set that stores them")
    steps = f", {solver.steps} steps" if solver.method in FIXED_STEP_METHODS else ""
    polished = (" + polish" if args.polish else "") + (" + settle" if args.settle else "")
    return NetworkMethod(generator, polish=args.polish, settle=args.settle), generator.hand, \
        f"FLASH network {path} ({solver.method}{steps}{polished})"


def object_cloud(obj, cloud: str, seed: int):
    """(points (N, 3), normals (N, 3)) the method sees: the object's sampled cloud, or one depth camera's view."""
    if cloud == "full":
        return obj.points, obj.normals
    from flash_training.data.views import ViewConfig, render_partial_views

    views = render_partial_views(obj.asset.mesh, len(obj.points), ViewConfig(views=1), seed=seed,
                                 face_parts=obj.asset.face_parts, full_points=obj.points, sdf=obj.sdf)
    return views.points[0], views.normals[0]


def run(args: argparse.Namespace) -> None:
    import numpy as np
    from rich.console import Console

    from flash_training.data.processing import MeshProcessingError, ProcessingConfig, process_object
    from flash_training.demo_output import grasp_records, print_table, write_outputs
    from flash_training.eval.cases import EvalInput, EvalObject, GraspCase
    from flash_training.eval.evaluate import evaluate_grasps
    from flash_training.eval.runner import EvalConfig
    from flash_training.grasp_methods import Goal

    if args.grasps < 1 or args.show < 0 or args.steps < 1:
        raise SystemExit(f"flash demo: --grasps and --steps must be >= 1 and --show >= 0, got {args.grasps}, "
                         f"{args.steps} and {args.show}")
    # Piped or logged output gets 160 columns, not rich's 80: at 80 the table's text column wraps a word a line.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    started = time.monotonic()
    processed = {}
    try:  # the method first: a model that cannot be used fails before the object is built
        method, hand, description = choose_method(args, processed,
                                                  lambda text: console.print(f"[yellow]note:[/] {text}"))
        asset, category, part = load_object(args)
        with console.status(f"building the {category} and its signed distance field"):
            obj = process_object(asset, ProcessingConfig(num_points=1024, seed=args.seed))
        key = obj.asset.object_id
        processed[key] = obj
    except (ValueError, KeyError, FileNotFoundError, MeshProcessingError) as exc:
        raise SystemExit(f"flash demo: {exc.args[0] if isinstance(exc, KeyError) else exc}") from None
    console.print(f"[bold]{args.prompt!r}[/]: {category} (parts {', '.join(obj.asset.part_names)}), target part: "
                  f"{part or 'anywhere'}, {hand.name} hand, {args.grasps} grasps from {description}")
    for text in obj.notes:
        console.print(f"  mesh: {text}")

    target = EvalObject(key, obj.asset.mesh, category, tuple(obj.asset.part_names), np.asarray(obj.asset.face_parts))
    with console.status(f"rendering the {args.cloud} cloud" if args.cloud == "partial" else "preparing the cloud"):
        points, normals = object_cloud(obj, args.cloud, args.seed)
    goal = Goal(key, args.prompt, target, points, normals, target_part=part, cloud=args.cloud)
    with console.status("generating grasps"):
        x = method.grasps(goal, args.grasps, args.seed)
    protocols = ("lift", "force") if args.protocol == "both" else (args.protocol,)
    with console.status(f"judging: acceptance test, simulated {' and '.join(protocols)} (MuJoCo)"):
        cases = [GraspCase(i, hand.name, key, x[i], prompt=args.prompt, target_part=part) for i in range(len(x))]
        result = evaluate_grasps(EvalInput({key: target}, cases), EvalConfig(protocols=protocols, progress=False))
    records = grasp_records(result, x, hand, category, part, obj.asset.part_names)
    print_table(console, records, f"{hand.name} grasps for {args.prompt!r}", protocols)
    with console.status("rendering"):
        written = write_outputs(Path(args.out), records, hand.name, obj.asset.mesh, args.show, {
            "prompt": args.prompt, "object": key, "category": category, "part": part,
            "mesh": str(args.mesh) if args.mesh else None, "mesh_notes": obj.notes, "hand": hand.name,
            "hand_source": hand.source, "method": description, "cloud": args.cloud,
            "frame": "object frame (bounding-box centre at the origin), metres",
            "summary": result.summary["all"]})
    seconds = round(time.monotonic() - started, 1)
    held = {p: sum(bool(r[p]) for r in records) for p in protocols}
    console.print(f"{sum(r['accepted'] for r in records)}/{len(records)} accepted, "
                  + ", ".join(f"{held[p]}/{len(records)} held ({p})" for p in protocols)
                  + f"; wrote {', '.join(str(p) for p in written)} in {seconds} s")
