"""When does the flow decide a grasp? The one-step estimate of the endpoint along the ODE, per part of the state.

    .venv/bin/python benchmarks/flow_commitment.py                        # the packaged default model
    .venv/bin/python benchmarks/flow_commitment.py --checkpoint runs/default/model

At each Euler step t_k the network's velocity gives an estimate of where the grasp ends, x_hat_1 = x_t + (1 - t) v on
the straight path (exact for it; `FlowPath.endpoint` in general: a part the path holds still stays put). The table
prints how far that estimate still is from the grasp the flow reached at t = 1, for the wrist translation (cm), the
wrist rotation (degrees) and the finger joints (mean absolute rad), averaged over K grasps of each of a few
procedural objects (the data builder's categories, full clouds). A part whose distance is ~0 from the first step on
was decided before the rest of the grasp was known: with a near-deterministic start for the joints (0.05 rad), the
default model's fingers were (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json

import torch
from model_arguments import add_model_arguments
from rich.console import Console
from rich.table import Table

OBJECTS = (("mug_000", "grasp the mug by the handle"), ("bottle_000", "grasp the bottle"),
           ("can_000", "grasp the can"), ("hammer_000", "grasp the hammer by the handle"))


def endpoint_estimates(generator, prompt: str, points: torch.Tensor, normals: torch.Tensor, grasps: int,
                       steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Euler integration of `grasps` hands for one goal -> (estimates (steps, K, 25) of x_1 at t_k, final (K, 25))."""
    goals = generator.prepare_goals([prompt], [points], [normals])
    x = generator.initial_states.sample(grasps, generator=torch.Generator().manual_seed(seed))
    context = generator.model.encode_goal(goals.prompts, goals.points, goals.features).repeat_interleave(grasps)
    estimates = []
    with torch.no_grad():
        for k in range(steps):
            t = k / steps
            velocity = generator.model.velocity(x, torch.full((grasps,), t), context)
            estimates.append(generator.model.config.path.endpoint(x, velocity, torch.full((grasps,), t)))
            x = x + velocity / steps
    return torch.stack(estimates), x


def distances(estimates: torch.Tensor, final: torch.Tensor) -> dict[str, torch.Tensor]:
    """estimates (S, K, 25), final (K, 25) -> per step (S,): wrist cm, rotation degrees, joints mean |rad|."""
    from flash_core.geometry.rotations import rot6d_to_matrix

    relative = rot6d_to_matrix(estimates[..., 3:9]).transpose(-1, -2) @ rot6d_to_matrix(final[:, 3:9])
    cosine = ((relative.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return {"wrist_cm": 100 * (estimates[..., :3] - final[:, :3]).norm(dim=-1).mean(-1),
            "rotation_deg": torch.rad2deg(torch.acos(cosine)).mean(-1),
            "joints_rad": (estimates[..., 9:] - final[:, 9:]).abs().mean((-1, -2))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser, grasps=16, result_name="flow_commitment.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from flash_training.data.objects.procedural import ProceduralSource
    from flash_training.data.processing import ProcessingConfig, process_object

    from flash_core.generator import GraspGenerator

    generator = GraspGenerator.from_checkpoint(args.checkpoint)
    per_object = []
    for name, prompt in OBJECTS:
        obj = process_object(ProceduralSource().load(name), ProcessingConfig(num_points=2048))
        estimates, final = endpoint_estimates(generator, prompt, torch.as_tensor(obj.points),
                                              torch.as_tensor(obj.normals), args.grasps, args.steps, args.seed)
        per_object.append(distances(estimates, final))
    mean = {key: torch.stack([d[key] for d in per_object]).mean(0) for key in per_object[0]}

    shown = sorted({0, 1, 2, args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps - 1})
    table = Table(title=f"distance of the one-step endpoint estimate from the final grasp ({len(OBJECTS)} objects "
                        f"x {args.grasps} grasps, Euler {args.steps}; x_0 joint spread "
                        f"{generator.initial_states.config.joint_jitter_rad} rad)")
    for column in ("t", "wrist (cm)", "rotation (deg)", "joints (rad)"):
        table.add_column(column, justify="right")
    for k in shown:
        table.add_row(f"{k / args.steps:.3f}", f"{mean['wrist_cm'][k]:.2f}", f"{mean['rotation_deg'][k]:.1f}",
                      f"{mean['joints_rad'][k]:.3f}")
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "checkpoint": str(args.checkpoint or "packaged default"), "objects": [n for n, _ in OBJECTS],
        "grasps": args.grasps, "steps": args.steps, "seed": args.seed,
        "initial_state": vars(generator.initial_states.config),
        "t": [k / args.steps for k in range(args.steps)],
        **{key: [round(float(v), 5) for v in values] for key, values in mean.items()},
    }, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
