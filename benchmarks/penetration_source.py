"""Where do a model's raw grasps sink into the object: the wrist placement or the finger closure?

    .venv/bin/python benchmarks/penetration_source.py --data /work/data/default_leap        # the packaged model
    .venv/bin/python benchmarks/penetration_source.py --data DIR --checkpoint runs/x/model

On the goals `flash ablations` judges (its `make_goals`: the split's objects with their high-level prompts, full
clouds), the model generates grasps (Euler 16, no settle). Each grasp's deepest hand surface point inside the
object's exact mesh SDF is measured twice: as generated, and with the same wrist but the fingers at the open pose.
When the open hand at the generated wrist already sinks nearly as deep, the wrist is placed too deep and choosing
the fingers differently cannot fix it. Also printed: how often each link is the deepest, and how far each grasp's
wrist is from the nearest stored grasp of the same object.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np
import torch
from model_arguments import add_model_arguments
from rich.console import Console
from rich.table import Table


def deepest_mm(hand, x: torch.Tensor, sdf) -> tuple[torch.Tensor, torch.Tensor]:
    """x (G, 25) -> the deepest point's depth (G,) in mm and the index (G,) of the link it lies on."""
    with torch.no_grad():
        depth = torch.relu(-sdf(hand.surface_points(x)))  # (G, N)
    deepest = depth.argmax(dim=1)
    return 1e3 * depth.max(dim=1).values, hand.surface_point_link_index[deepest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="FLASH-Drive data set folder")
    parser.add_argument("--split", default="unseen_object")
    parser.add_argument("--goals", type=int, default=16)
    add_model_arguments(parser, grasps=4, result_name="penetration_source.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from flash_training.ablations import AblationConfig, make_goals
    from flash_training.assess import AssessedObject

    from flash_core.flow.solver import SolverConfig
    from flash_core.generator import GraspGenerator

    generator = GraspGenerator.from_checkpoint(args.checkpoint, solver=SolverConfig(method="euler", steps=args.steps))
    hand = generator.hand
    config = AblationConfig(data=args.data, out="", budget_steps=1, split=args.split, goals=args.goals,
                            grasps_per_goal=args.grasps, seed=args.seed, clouds=("full",))
    goals, _ = make_goals(config, hand.name)
    generated, opened, deepest_links, wrist_to_stored = [], [], Counter(), []
    for number, goal in enumerate(goals["full"]):
        grasps = generator.generate(goal.prompt, goal.points, num_grasps=args.grasps, seed=args.seed + number,
                                    object_normals=goal.normals)
        x = torch.as_tensor(np.stack([g.vector for g in grasps]), dtype=hand.dtype)
        sdf = AssessedObject.from_mesh(goal.obj.mesh, None, ("body",)).sdf
        depth, link = deepest_mm(hand, x, sdf)
        x_open = x.clone()
        x_open[:, 9:] = hand.open_joints()
        generated.append(depth)
        opened.append(deepest_mm(hand, x_open, sdf)[0])
        deepest_links.update(hand.link_names[int(i)] for i, d in zip(link, depth, strict=True) if d > 0)
        stored = torch.as_tensor(goal.reference_x, dtype=hand.dtype)
        wrist_to_stored.append(1e3 * torch.cdist(x[:, :3], stored[:, :3]).min(dim=1).values)
    generated, opened, wrist_to_stored = (torch.cat(v).numpy() for v in (generated, opened, wrist_to_stored))

    rows = {
        "deepest point, mean mm": (generated.mean(), opened.mean()),
        "deepest point, median mm": (np.median(generated), np.median(opened)),
        "grasps deeper than 2 mm": (f"{(generated > 2).mean():.1%}", f"{(opened > 2).mean():.1%}"),
    }
    table = Table(title=f"raw grasps of {len(goals['full'])} goals x {args.grasps} ({args.split}, full clouds, "
                        f"Euler {args.steps}) against the exact mesh")
    for column in ("", "as generated", "same wrist, fingers open"):
        table.add_column(column, justify="right")
    for name, (a, b) in rows.items():
        table.add_row(name, *(v if isinstance(v, str) else f"{v:.2f}" for v in (a, b)))
    console = Console()
    console.print(table)
    console.print(f"deepest link (penetrating grasps): {deepest_links.most_common()}")
    console.print(f"wrist to the nearest stored grasp of the object: mean {wrist_to_stored.mean():.1f} mm, "
                  f"median {np.median(wrist_to_stored):.1f} mm")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "checkpoint": str(args.checkpoint or "packaged default"), "data": args.data, "split": args.split,
        "goals": len(goals["full"]), "grasps_per_goal": args.grasps, "steps": args.steps, "seed": args.seed,
        "deepest_mm_generated": [round(float(v), 3) for v in generated],
        "deepest_mm_fingers_open": [round(float(v), 3) for v in opened],
        "deepest_link_counts": dict(deepest_links),
        "wrist_to_nearest_stored_mm": [round(float(v), 2) for v in wrist_to_stored],
    }, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
