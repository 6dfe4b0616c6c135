"""How near do a model's grasp estimates come to the true grasp, from each time of the flow?

    .venv/bin/python benchmarks/grasp_estimate.py --data /work/data/default_leap               # the packaged model
    .venv/bin/python benchmarks/grasp_estimate.py --data DIR --checkpoint runs/x/model --split unseen_object

Rows of a split (full clouds, their first wording) are put on the model's path at fixed times t, from x_0 drawn
as in training. From there the network's velocity gives the one-step estimate of the grasp (`FlowPath.endpoint`;
on the straight path x_t + (1 - t) v), and integrating the flow from x_t to t = 1 on the Euler grid gives another.
Printed per t: the wrist's distance from the stored grasp for x_t itself, for the one-step estimate and for the
integrated one, and the estimate's mean joint error. A network that has learnt where the grasp is brings both much
nearer than x_t late in the flow, on its own training split above all; one that has not stays near x_t and leaves
its samples between the stored grasps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from model_arguments import RESULTS
from rich.console import Console
from rich.table import Table

TIMES = (0.0, 0.25, 0.5, 0.75, 0.9, 0.97)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="FLASH-Drive data set folder")
    parser.add_argument("--split", default="train")
    parser.add_argument("--checkpoint", type=Path, help="model folder (default: the packaged default model)")
    parser.add_argument("--rows", type=int, default=128, help="grasps of the split (drawn with --seed)")
    parser.add_argument("--batch", type=int, default=32, help="rows per forward pass")
    parser.add_argument("--steps", type=int, default=16, help="Euler steps of the integration from x_t")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "grasp_estimate.json", help="JSON written")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from flash_training.data.dataset import FlashDriveDataset
    from flash_training.train.batches import CloudCache, collate_items, flow_batch

    from flash_core.generator import GraspGenerator

    generator = GraspGenerator.from_checkpoint(args.checkpoint)
    model, hand, sampler = generator.model, generator.hand, generator.initial_states
    dataset = FlashDriveDataset(args.data, args.split, text_level="high", hands=(hand.name,), seed=args.seed,
                                paraphrases=False)
    cache = CloudCache(model.object_encoder.pointnet, model.config.object.num_points, 1024, generator.device,
                       normals=model.config.hand_object_distance)
    rows = np.random.default_rng(args.seed).permutation(len(dataset))[: args.rows]
    noise = torch.Generator().manual_seed(args.seed)
    estimate_mm, start_mm, joints_rad, integrated_mm = ({t: [] for t in TIMES} for _ in range(4))
    grid = torch.linspace(0.0, 1.0, args.steps + 1)
    with torch.no_grad():
        for chunk in np.array_split(rows, max(1, len(rows) // args.batch)):
            items = collate_items([dataset[int(i)] for i in chunk])
            initial = sampler.sample(len(chunk), generator=noise)  # one x_0 per row, the same at every t
            batch = flow_batch(items, cache, initial, torch.zeros(len(chunk)), False)
            goal = model.encode_goal(batch.prompts, batch.object_points, batch.object_features,
                                     object_index=batch.object_index, object_grouping=batch.object_grouping,
                                     object_normals=batch.object_normals)
            for t_value in TIMES:
                path = model.config.path.sample(batch.initial, batch.grasps, torch.full((len(chunk),), t_value))
                velocity = model.velocity(path.x_t, path.t, goal)
                estimate = model.config.path.endpoint(path.x_t, velocity, path.t)
                # Then Euler from t through the later points of the solver's grid; its first step is that velocity.
                times = torch.cat((torch.tensor([t_value]), grid[grid > t_value + 1e-6]))
                x = path.x_t + (times[1] - times[0]) * velocity
                for t_from, t_to in zip(times[1:-1], times[2:], strict=True):
                    x = x + (t_to - t_from) * model.velocity(x, t_from, goal)
                start_mm[t_value].append(1e3 * (path.x_t[:, :3] - batch.grasps[:, :3]).norm(dim=-1))
                estimate_mm[t_value].append(1e3 * (estimate[:, :3] - batch.grasps[:, :3]).norm(dim=-1))
                joints_rad[t_value].append((estimate[:, 9:] - batch.grasps[:, 9:]).abs().mean(-1))
                integrated_mm[t_value].append(1e3 * (x[:, :3] - batch.grasps[:, :3]).norm(dim=-1))
    results = {}
    for t_value in TIMES:
        start, estimate, joints, integrated = (torch.cat(v[t_value]).numpy()
                                               for v in (start_mm, estimate_mm, joints_rad, integrated_mm))
        results[t_value] = {"x_t_wrist_mm": float(np.median(start)), "estimate_wrist_mm": float(np.median(estimate)),
                            "estimate_joints_rad": float(joints.mean()),
                            "integrated_wrist_mm": float(np.median(integrated))}

    table = Table(title=f"grasp estimates from the path at t, {len(rows)} {args.split} grasps (full clouds, high-level "
                        "text; wrist distances are medians)")
    for column in ("t", "x_t: wrist to grasp, mm", "one-step estimate, mm", "estimate: joints, rad",
                   f"integrated from x_t (Euler {args.steps}), mm"):
        table.add_column(column, justify="right")
    for t_value, r in results.items():
        table.add_row(f"{t_value:.2f}", f"{r['x_t_wrist_mm']:.1f}", f"{r['estimate_wrist_mm']:.1f}",
                      f"{r['estimate_joints_rad']:.3f}", f"{r['integrated_wrist_mm']:.1f}")
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"checkpoint": str(args.checkpoint or "packaged default"), "data": args.data,
                                    "split": args.split, "rows": len(rows), "seed": args.seed,
                                    "prediction": model.config.prediction,
                                    "by_t": {f"{t:.2f}": r for t, r in results.items()}}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
