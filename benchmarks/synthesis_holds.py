"""How many of FLASH-Drive's synthesised grasps pass the acceptance test and then hold in simulated protocol (b),
per hand, on a few procedural objects: the builder's own steps (synthesis, `assess_grasps`, `run_force_closure`)
without a whole build, with the simulated failures by kind.

    .venv/bin/python benchmarks/synthesis_holds.py --objects mug_001,bottle_000 --hands allegro [--candidates 8]
        [--synthesis-file OLD.py]

`--convex-search ITERATIONS,DEPTH` also simulates every accepted grasp on a second convex decomposition (CoACD's
`mcts_iterations` and `mcts_max_depth`; the first is `ConvexConfig()`) and prints how often the verdicts agree.
`--synthesis-file` runs another version of `flash_training/data/synthesis.py` (e.g. `git show
REV:training/flash_training/data/synthesis.py > /tmp/old.py`) for before/after figures on the same objects and
seeds. Prints one line per unit and the totals; writes benchmarks/results/synthesis_holds.json (or --out) with
each simulated grasp's measures (needed friction, touching fingers, penetration) beside its verdict.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from flash_training.assess import AssessedObject, assess_grasps
from flash_training.data import synthesis
from flash_training.data.objects import ProceduralSource
from flash_training.data.objects.ycb import YcbSource
from flash_training.data.processing import ProcessingConfig, process_object
from flash_training.eval.convex import ConvexConfig, convex_pieces
from flash_training.eval.protocols import run_force_closure
from flash_training.eval.runner import approach_directions, grasp_pose
from flash_training.eval.scene import GraspScene

from flash_core.hands import make_hand


def load_synthesis(path: str | None):
    """The synthesis module: the installed one, or the file at `path`."""
    if path is None:
        return synthesis
    spec = importlib.util.spec_from_file_location("synthesis_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def failure_kind(reason: str) -> str:
    """'knocked away while closing', 'moved under -x', 'turned under +y', ... (figures dropped)."""
    if reason.startswith("knocked away"):
        return "knocked away while closing"
    words = reason.split()
    return f"{words[0]} under {words[-1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", default="mug_001,bottle_000,box_000,knife_000,hammer_001,drill_000,pan_000,"
                                             "can_000", help="procedural object names; ycb:NAME for a YCB mesh")
    parser.add_argument("--hands", default="allegro,leap")
    parser.add_argument("--candidates", type=int, default=8, help="grasps per unit (each the best of --tries)")
    parser.add_argument("--tries", type=int, default=16, help="approach-and-close tries per grasp (the presets')")
    parser.add_argument("--synthesis-file", help="another version of synthesis.py to measure")
    parser.add_argument("--convex-search", help="ITERATIONS,DEPTH of a second CoACD decomposition to compare")
    parser.add_argument("--out", default="benchmarks/results/synthesis_holds.json")
    args = parser.parse_args()
    alternative = None
    if args.convex_search:
        iterations, depth = (int(v) for v in args.convex_search.split(","))
        alternative = ConvexConfig(mcts_iterations=iterations, mcts_max_depth=depth)
    torch.set_num_threads(1)
    module = load_synthesis(args.synthesis_file)
    source = ProceduralSource(count_per_category=10)
    totals = {hand: Counter() for hand in args.hands.split(",")}
    units, grasps = [], []
    for name in args.objects.split(","):
        asset = YcbSource().load(name.removeprefix("ycb:")) if name.startswith("ycb:") else source.load(name)
        obj = process_object(asset, ProcessingConfig())
        target = AssessedObject.from_processed(obj)
        pieces = convex_pieces(obj.asset.mesh)
        alternative_pieces = convex_pieces(obj.asset.mesh, alternative) if alternative else None
        parts = [p for p in range(len(obj.asset.part_names)) if (obj.point_parts == p).any()]
        masks = (np.stack([obj.point_parts == parts[i % len(parts)] for i in range(args.candidates)])
                 if len(parts) > 1 else None)  # round-robin over the parts, as the builder does
        for hand_name in totals:
            hand = make_hand(hand_name)
            start = time.perf_counter()
            x = module.synthesize_grasps(hand, obj.sdf, obj.points, obj.normals, args.candidates,
                                         module.SynthesisConfig(oversample=args.tries), seed=0, target_masks=masks,
                                         grid=obj.sdf_grid).optimized.detach()
            seconds = time.perf_counter() - start
            assessment = assess_grasps(hand, x, target)
            scene = GraspScene(hand_name, obj.asset.mesh, pieces)
            alternative_scene = GraspScene(hand_name, obj.asset.mesh, alternative_pieces) if alternative else None
            approach = approach_directions({hand_name})[hand_name]
            failures = Counter()
            for i in np.flatnonzero(assessment.accepted):
                pose = grasp_pose(x[i].cpu().numpy().astype(np.float64), np.array([0.0, 0.0, 1.0]), approach)
                depths = (float(assessment.max_penetration_m[i]), float(assessment.self_penetration_m[i]))
                result = run_force_closure(scene, pose, depths_m=depths)
                grasps.append({"object": name, "hand": hand_name, "held": result.success, "reason": result.reason,
                               "required_friction": float(assessment.required_friction[i]),
                               "contact_fingers": int(assessment.contact_fingers[i]),
                               "max_penetration_m": depths[0]})
                if alternative_scene is not None:
                    grasps[-1]["held_alternative"] = run_force_closure(alternative_scene, pose, depths_m=depths).success
                if not result.success:
                    failures[failure_kind(result.reason)] += 1
            accepted = int(assessment.accepted.sum())
            held = accepted - sum(failures.values())
            rejected = Counter(r for r in assessment.reasons if r)
            totals[hand_name].update(candidates=args.candidates, accepted=accepted, held=held)
            units.append({"object": name, "hand": hand_name, "synthesis_s": seconds, "accepted": accepted,
                          "held": held, "rejected": dict(rejected), "failures": dict(failures)})
            print(f"{name:16s} {hand_name:8s} accepted {accepted}/{args.candidates} held {held}/{accepted} "
                  f"({seconds:.0f} s) rejected {dict(rejected)} failed {dict(failures)}", flush=True)
    for hand_name, total in totals.items():
        print(f"{hand_name}: accepted {total['accepted']}/{total['candidates']}, held in protocol (b) "
              f"{total['held']}/{total['accepted']} ({100 * total['held'] / max(total['accepted'], 1):.0f} %)")
    if alternative:
        same = sum(g["held"] == g["held_alternative"] for g in grasps)
        print(f"convex search {args.convex_search} vs CoACD defaults: same verdict on {same}/{len(grasps)} grasps; "
              f"held {sum(g['held_alternative'] for g in grasps)} vs {sum(g['held'] for g in grasps)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"units": units, "totals": totals, "grasps": grasps,
                               "synthesis_file": args.synthesis_file, "convex_search": args.convex_search,
                               "load_average_1min": os.getloadavg()[0]}, indent=1))


if __name__ == "__main__":
    main()
