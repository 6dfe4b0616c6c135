"""One GenerateGrasp-sized request (one goal, K = 16 grasps): the code as it was, naive vs cached, solvers vs steps.

    .venv/bin/python benchmarks/bench_inference.py                    # default model, untrained: speed only
    .venv/bin/python benchmarks/bench_inference.py --checkpoint runs/default/model \\
        --data data/flash-drive-default --split unseen_object --goals 8   # + quality per solver (flash eval)

A request is `GraspGenerator.generate(prompt, cloud, num_grasps=K)`: preprocessing, the goal encoded once, K hands
integrated from t = 0 to 1 with the live hand cloud at every evaluation, ranking. Timings are the fastest of
`--repeats` runs after a warm-up (the prompt's LLM features are then cached, as in a running server).

Table 1, the same request three ways (Euler, --steps): `baseline` is commit BASELINE's core (extracted with git
archive, in a child process, same weights and seed): hand ball query through scipy's k-d tree, the fusion decoder
on the memory repeated per row; `naive` re-encodes prompt and object for every row at every evaluation (the
reference the cached path must equal); `cached` is the code now. The last column is the largest difference of the
K final states from `cached`'s (float tolerance: the paths compute the same thing).

Table 2, solvers and step counts on the cached path: NFE, seconds, the largest deviation of the final states from
a tight dopri5 solution (how far the solver is from the exact flow), and, with --checkpoint and --data, quality
from `flash eval` on generated grasps of --goals validation goals: lift and force-closure success, mean dense
penetration. Without a trained checkpoint the quality columns are empty (an untrained field says nothing).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PROMPT = "grasp the mug by its handle with all fingers"
SOLVERS = (("euler", 4), ("euler", 8), ("euler", 16), ("midpoint", 4), ("midpoint", 8), ("rk4", 4), ("rk4", 8),
           ("dopri5", None))


def ellipsoid_cloud() -> torch.Tensor:
    """(4096, 3) points of an 8 x 8 x 12 cm ellipsoid: a mug-sized cloud."""
    directions = torch.randn(4096, 3, generator=torch.Generator().manual_seed(0))
    return torch.nn.functional.normalize(directions, dim=-1) * torch.tensor([0.04, 0.04, 0.06])


def build_generator(weights: dict[str, torch.Tensor] | None, checkpoint: str | None, threads: int):
    """The default model: from a checkpoint, or untrained with `weights` (a head that says something)."""
    torch.set_num_threads(threads)
    from flash_core.generator import GraspGenerator
    from flash_core.hands import make_hand
    from flash_core.model.flash_model import FlashModel, FlashModelConfig
    from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone

    if checkpoint:
        return GraspGenerator.from_checkpoint(checkpoint)
    hand = make_hand("leap")
    model = FlashModel(FlashModelConfig(), load_text_backbone(TextBackboneConfig()), hand.surface_points)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith("llm.") for k in missing)
    return GraspGenerator(model, hand)


def untrained_weights() -> dict[str, torch.Tensor]:
    from flash_core.hands import make_hand
    from flash_core.model.flash_model import FlashModel, FlashModelConfig
    from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone

    torch.manual_seed(0)
    model = FlashModel(FlashModelConfig(), load_text_backbone(TextBackboneConfig()), make_hand("leap").surface_points)
    with torch.no_grad():  # the head starts at zero; a random one makes the hands move
        for param in model.head[-1].parameters():
            param.normal_(0.0, 0.02)
    return {n: t for n, t in model.state_dict().items() if not n.startswith("llm.")}


def time_request(generator, solver, k: int, repeats: int, cached: bool = True):
    """(fastest wall s, its CPU s, final states (K, 25), NFE) of one request; `cached=False` times the naive
    sampling."""
    from flash_core.flow.solver import SolverConfig

    config = SolverConfig(method=solver[0], steps=solver[1] or 16)
    goals = generator.prepare_goals([PROMPT], [ellipsoid_cloud()])
    generator.sample(goals, 1, seed=0, solver=SolverConfig(method="euler", steps=1), cached=cached)  # warm-up
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        if cached:
            generator.generate(PROMPT, ellipsoid_cloud(), num_grasps=k, seed=0, method=config.method,
                               steps=config.steps)
        else:  # the naive path has no generate(); preprocessing and ranking cost the same on both
            generator.sample(goals, k, seed=0, solver=config, cached=False)
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    x, nfe = generator.sample(goals, k, seed=0, solver=config, cached=cached)
    return best[0], best[1], x[0], nfe


def child(args) -> None:
    """The baseline commit's request, in this process (flash_core is the extracted one)."""
    import flash_core

    assert str(args.workdir) in flash_core.__file__, flash_core.__file__
    generator = build_generator(torch.load(args.workdir / "weights.pt"), None, args.threads)
    wall, cpu, x, nfe = time_request(generator, ("euler", args.steps), args.k, args.repeats)
    torch.save({"wall_s": wall, "cpu_s": cpu, "x": x, "nfe": nfe}, args.workdir / "baseline.pt")


def quality(generator, solver, args) -> dict[str, float]:
    from flash_training.train.eval_hook import evaluate_generated

    from flash_core.flow.solver import SolverConfig

    with tempfile.TemporaryDirectory() as out:
        numbers = evaluate_generated(generator.model, generator.hand, args.data, args.split, args.goals, args.k,
                                     SolverConfig(method=solver[0], steps=solver[1] or 16), 0, Path(out))
    return {"lift_success": numbers.get("eval/lift/success"), "force_success": numbers.get("eval/force/success"),
            "penetration_mm": numbers.get("eval/penetration_mm/mean")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=16, help="grasps per request")
    parser.add_argument("--steps", type=int, default=8, help="Euler steps of table 1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", default="64c50a4", help="git commit of the code before this work")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--checkpoint", help="a trained FLASH checkpoint folder (quality columns need it)")
    parser.add_argument("--data", help="FLASH-Drive data set of the evaluation goals")
    parser.add_argument("--split", default="unseen_object")
    parser.add_argument("--goals", type=int, default=8)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_inference.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.checkpoint:
        args.no_baseline = True  # the baseline child builds the untrained model; speed does not depend on training

    from rich.console import Console
    from rich.table import Table

    console = Console()
    weights = None if args.checkpoint else untrained_weights()
    generator = build_generator(weights, args.checkpoint, args.threads)
    request = {}
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        workdir = Path(tmp)
        if not args.no_baseline:
            sys.path.insert(0, str(Path(__file__).parent))
            from bench_train_step import extract_baseline

            env = extract_baseline(args.baseline, workdir / "baseline")
            torch.save(weights, workdir / "weights.pt")
            console.print(f"baseline {args.baseline} ...")
            subprocess.run([sys.executable, __file__, "--child", "--workdir", str(workdir), "--threads",
                            str(args.threads), "--k", str(args.k), "--steps", str(args.steps), "--repeats",
                            str(args.repeats)], env=env, check=True, cwd=REPO)
            request[f"baseline {args.baseline}"] = torch.load(workdir / "baseline.pt")
    for name, cached in (("naive", False), ("cached", True)):
        console.print(f"{name} ...")
        wall, cpu, x, nfe = time_request(generator, ("euler", args.steps), args.k, args.repeats, cached)
        request[name] = {"wall_s": wall, "cpu_s": cpu, "x": x, "nfe": nfe}
    reference = request["cached"]["x"]
    table = Table(title=f"One request: K = {args.k} grasps, Euler {args.steps} steps, {args.threads} threads")
    for column in ("path", "NFE", "wall s", "CPU s", "vs cached (wall)", "max |x - cached|"):
        table.add_column(column, justify="right")
    for name, r in request.items():
        r["max_abs_diff"] = float((r["x"] - reference).abs().max())
        table.add_row(name, str(r["nfe"]), f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}",
                      f"{r['wall_s'] / request['cached']['wall_s']:.2f}x", f"{r['max_abs_diff']:.1e}")
    console.print(table)

    from flash_core.flow.solver import SolverConfig

    goals = generator.prepare_goals([PROMPT], [ellipsoid_cloud()])
    exact, _ = generator.sample(goals, args.k, seed=0, solver=SolverConfig(method="dopri5", atol=1e-6, rtol=1e-6))
    solvers = []
    for solver in SOLVERS:
        console.print(f"{solver[0]} {solver[1] or ''} ...")
        wall, cpu, x, nfe = time_request(generator, solver, args.k, args.repeats)
        row = {"method": solver[0], "steps": solver[1], "nfe": nfe, "wall_s": wall, "cpu_s": cpu,
               "max_dev_from_exact": float((x - exact[0]).abs().max())}
        if args.checkpoint and args.data:
            row.update(quality(generator, solver, args))
        solvers.append(row)
    table = Table(title=f"Solvers on the cached path, K = {args.k}" + ("" if args.checkpoint else
                                                                        " (untrained model: no quality)"))
    for column in ("solver", "NFE", "wall s", "CPU s", "max |x - exact|", "lift success", "force success",
                   "penetration mm"):
        table.add_column(column, justify="right")

    def cell(value, fmt):
        return "—" if value is None else format(value, fmt)

    for r in solvers:
        table.add_row(f"{r['method']} {r['steps'] or ''}".strip(), str(r["nfe"]), f"{r['wall_s']:.2f}",
                      f"{r['cpu_s']:.2f}", f"{r['max_dev_from_exact']:.1e}", cell(r.get("lift_success"), ".1%"),
                      cell(r.get("force_success"), ".1%"), cell(r.get("penetration_mm"), ".2f"))
    console.print(table)
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "k": args.k, "threads": args.threads, "torch": torch.__version__, "load_average": load,
        "checkpoint": args.checkpoint, "request": {n: {k: v for k, v in r.items() if k != "x"}
                                                   for n, r in request.items()},
        "solvers": solvers}, indent=1))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
