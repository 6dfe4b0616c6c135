"""`flash eval`: judge grasps in MuJoCo on the CPU and write metrics.json, report.md and renders of failures.

    flash eval --grasps grasps.json --out outputs/eval                    # any tool's grasps (docs/eval.md)
    flash eval --dataset data/flash-drive-mini --split unseen_object --limit 200 --workers 2 --out outputs/eval
    flash eval --dataset DIR --split seen --backend ray                   # Ray: RAY_ADDRESS or a local cluster
"""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--grasps", help="grasp file (JSON, format in docs/eval.md)")
    source.add_argument("--dataset", help="FLASH-Drive data set folder")
    parser.add_argument("--split", default="unseen_object",
                        help="data-set split: train, seen, unseen_object, unseen_category or all")
    parser.add_argument("--hands", nargs="+", help="data-set hands to evaluate (default: all)")
    parser.add_argument("--limit", type=int, help="evaluate this many grasps, drawn at random (seeded)")
    parser.add_argument("--protocol", choices=("lift", "force", "both"), default="both",
                        help="lift: the FLASH paper's heuristic; force: DexGraspBench's force-closure test")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes")
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--renders", type=int, default=4, help="failed grasps to draw per protocol")
    parser.add_argument("--seed", type=int, default=0, help="seed of --limit's draw and of the decomposition")
    parser.add_argument("--out", default="outputs/eval", help="output folder")


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from dataclasses import replace

    from flash_training.eval.convex import ConvexConfig
    from flash_training.eval.dataset_input import DatasetObjectError, read_dataset
    from flash_training.eval.evaluate import evaluate_grasps
    from flash_training.eval.grasp_file import GraspFileError, read_grasp_file
    from flash_training.eval.runner import EvalConfig

    protocols = ("lift", "force") if args.protocol == "both" else (args.protocol,)
    try:
        config = EvalConfig(protocols=protocols, workers=args.workers, backend=args.backend,
                            convex=replace(ConvexConfig(), seed=args.seed))
        if args.grasps:
            inputs, title = read_grasp_file(args.grasps), args.grasps
            if args.limit is not None:
                inputs = replace(inputs, cases=inputs.cases[: args.limit])
        else:
            inputs = read_dataset(args.dataset, args.split, args.limit, tuple(args.hands or ()) or None, args.seed)
            title = f"{args.dataset}, split {args.split}"
    except (GraspFileError, DatasetObjectError, ValueError, FileNotFoundError, KeyError) as exc:
        sys.exit(f"flash eval: {exc}")
    result = evaluate_grasps(inputs, config, out=args.out, renders=args.renders, title=title)
    overall = result.summary["all"]
    parts = [f"{overall['grasps']} grasps"]
    if "lift" in overall:
        parts.append(f"lift {100 * overall['lift']['success']:.1f} %")
    if "force" in overall:
        parts.append(f"force {100 * overall['force']['success']:.1f} % (strict 2 cm "
                     f"{100 * overall['force']['strict_success']:.1f} %)")
    parts.append(f"penetration < 2 mm {100 * overall['penetration_mm']['under_2mm']:.1f} %, "
                 f"max {overall['penetration_mm']['max']:.2f} mm")
    parts.append(f"self-penetration max {overall['self_penetration_mm']['max']:.2f} mm")
    if overall["part_alignment"] is not None:
        parts.append(f"part alignment {100 * overall['part_alignment']:.1f} %")
    print("; ".join(parts))
    print(f"wrote {args.out}/metrics.json and {args.out}/report.md")
