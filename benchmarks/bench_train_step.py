"""Training-step throughput at batch 32: the step as it was (a git baseline) against `flash train`'s, in one run.

    .venv/bin/python benchmarks/bench_train_step.py                 # default model, batch 32, 4 timed steps per path
    .venv/bin/python benchmarks/bench_train_step.py --steps 2 --threads 2 --baseline 64c50a4

Every path runs in a child process from the same initial weights on the same batches (8 objects x 4 grasps of
each, prompts from a pool of 3 levels x 2 wordings per object, x_0 and t fixed per step), and goes through the
batches twice: the first pass warms up (and fills the new path's prompt cache: the steady state of a run after its
first epoch), the second is timed.

- baseline: commit BASELINE's `flash_core.flow.objective.train_step` (its whole core, extracted with `git archive`
  and put first on PYTHONPATH) on the batch as it took it: 32 clouds, each sampled, grouped (scipy k-d tree) and
  encoded; `model.train()` at every step, which cleared the prompt cache so SmolLM2 re-encoded every prompt;
  glibc's default allocator.
- baseline + malloc: the same, with `flash train`'s allocator settings (the allocator's share alone).
- new: `flash_training.train.step.train_step` on batches made by the trainer's own code (`collate_items` with 4
  rows per cloud, `CloudCache`, `flow_batch`): 8 distinct clouds encoded once each, grouping cached, prompt
  features cached; default allocator.
- new + malloc: what `flash train` runs (`keep_freed_memory`).

Printed and written to JSON: median (and fastest) wall and median process-CPU seconds per step, grasps/s, minor
page faults per step, the speed-ups over the first path (the baseline), and the largest difference of any step's
loss from the baseline's (all paths must compute the same losses). Compare medians on a quiet machine; on a shared
one the fastest step is the steadier figure (other jobs only ever add time).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
BASELINE = "64c50a4"  # the last commit before the training-speed work
PATHS = {"baseline": ("baseline", False), "baseline+malloc": ("baseline", True), "new": ("new", False),
         "new+malloc": ("new", True)}
ROWS_PER_OBJECT = 4


# ----------------------------------------------------------------------------------------------------------------
# the parent: shared inputs, children, the table


def extract_baseline(commit: str, into: Path) -> dict[str, str]:
    """The core (`src/flash_core/flash_core`) of git commit `commit`, extracted under `into`; returns the
    environment that makes a child process import it as `flash_core` (first on PYTHONPATH, ahead of the editable
    install of the working tree)."""
    archive = subprocess.run(["git", "archive", commit, "src/flash_core/flash_core"], cwd=REPO, check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(into / "src" / "flash_core"), env.get("PYTHONPATH")]))
    return env


def make_inputs(workdir: Path, batch: int, steps: int, seed: int = 0) -> None:
    """Initial weights and `steps` batches, written for the children (weights from the current code's model)."""
    from flash_core.flow.initial_state import InitialStateSampler
    from flash_core.generator import model_cloud_index
    from flash_core.hands import make_hand
    from flash_core.model.flash_model import FlashModel, FlashModelConfig
    from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone

    hand = make_hand("leap")
    torch.manual_seed(seed)
    model = FlashModel(FlashModelConfig(), load_text_backbone(TextBackboneConfig()), hand.surface_points)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    weights = {n: t for n, t in model.state_dict().items() if not n.startswith("llm.") or n in trainable}
    generator = torch.Generator().manual_seed(seed)
    num_objects, num_points = 16, model.config.object.num_points
    radii = 0.03 + 0.04 * torch.rand(num_objects, 1, 3, generator=generator)  # ellipsoids, 6-14 cm
    clouds = torch.nn.functional.normalize(torch.randn(num_objects, num_points, 3, generator=generator), dim=-1) * radii
    # As the trainer prepares them (GraspGenerator's thinning and centring): both paths then see the same points.
    clouds = torch.stack([c[model_cloud_index(c, num_points)] - c.mean(0) for c in clouds])
    sampler = InitialStateSampler.from_hand(hand)
    batches = []
    for step in range(steps):
        objects = torch.randperm(num_objects, generator=generator)[: batch // ROWS_PER_OBJECT]
        rows = objects.repeat_interleave(ROWS_PER_OBJECT)  # (B,) chunk by chunk, as DataOrder makes them
        wording = torch.randint(6, (batch,), generator=generator)
        prompts = [f"{('low', 'mid', 'high')[w % 3]} level grasp of object {o}, wording {w // 3}"
                   for o, w in zip(rows.tolist(), wording.tolist())]
        times_seed = seed * 1000 + step
        batches.append({"objects": rows, "prompts": prompts, "grasps": sampler.sample(batch, generator=generator),
                        "initial": sampler.sample(batch, generator=generator), "times_seed": times_seed,
                        "times": torch.rand(batch, generator=torch.Generator().manual_seed(times_seed))})
    torch.save({"weights": weights, "clouds": clouds, "batches": batches}, workdir / "inputs.pt")


def run_child(mode: str, malloc: bool, workdir: Path, args, baseline_env: dict[str, str]) -> dict:
    env = baseline_env if mode == "baseline" else dict(os.environ)
    out = workdir / f"{mode}-{int(malloc)}.json"
    command = [sys.executable, __file__, "--child", mode, "--workdir", str(workdir), "--threads", str(args.threads)]
    subprocess.run(command + (["--malloc"] if malloc else []), env=env, check=True, cwd=REPO)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per path (each run twice: warm-up, timed)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", default=BASELINE, help="git commit of the old train_step")
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS),
                        help="paths to run (the first is the reference of speed-ups and losses)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_train_step.json")
    parser.add_argument("--child", choices=("baseline", "new"), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--malloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    from rich.console import Console
    from rich.table import Table

    if args.batch % ROWS_PER_OBJECT:
        parser.error(f"--batch must be a multiple of {ROWS_PER_OBJECT}")
    console = Console()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-train-step-") as tmp:
        workdir = Path(tmp)
        baseline_env = extract_baseline(args.baseline, workdir / "baseline")
        make_inputs(workdir, args.batch, args.steps)
        results = []
        for mode, malloc in (PATHS[p] for p in args.paths):
            console.print(f"[bold]{mode}{' + malloc' if malloc else ''}[/bold] ...")
            results.append(run_child(mode, malloc, workdir, args, baseline_env))
    base = results[0]
    table = Table(title=f"Training step, default model (SmolLM2 frozen, live hand), batch {args.batch} "
                        f"({args.batch // ROWS_PER_OBJECT} objects), {args.threads} threads")
    for column in ("path", "wall s/step", "fastest", "CPU s/step", "grasps/s", "minor faults/step",
                   "speed-up (wall)", "(fastest)", "(CPU)", f"max |loss - {base['path']}|"):
        table.add_column(column, justify="right")
    for r in results:
        r["speedup_wall"] = base["wall_s"] / r["wall_s"]
        r["speedup_fastest"] = min(base["wall_s_all"]) / min(r["wall_s_all"])
        r["speedup_cpu"] = base["cpu_s"] / r["cpu_s"]
        r["max_loss_diff"] = max(abs(a - b) for a, b in zip(r["losses"], base["losses"]))
        table.add_row(r["path"], f"{r['wall_s']:.2f}", f"{min(r['wall_s_all']):.2f}", f"{r['cpu_s']:.2f}",
                      f"{args.batch / r['wall_s']:.1f}", f"{r['minor_faults']:,.0f}", f"{r['speedup_wall']:.2f}x",
                      f"{r['speedup_fastest']:.2f}x", f"{r['speedup_cpu']:.2f}x", f"{r['max_loss_diff']:.1e}")
    console.print(table)
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"batch": args.batch, "objects_per_batch": args.batch // ROWS_PER_OBJECT,
                                    "timed_steps": args.steps, "threads": args.threads, "baseline": args.baseline,
                                    "torch": torch.__version__, "load_average": load, "paths": results}, indent=1))
    console.print(f"wrote {args.out}")


# ----------------------------------------------------------------------------------------------------------------
# a child: one path


def child(args) -> None:
    if args.malloc:  # first, before any large allocation, as `flash train` does
        from flash_training.train.allocator import keep_freed_memory

        assert keep_freed_memory(), "glibc mallopt refused the settings"
    torch.set_num_threads(args.threads)
    import flash_core
    from flash_core.flow.initial_state import InitialStateSampler
    from flash_core.hands import make_hand
    from flash_core.model.flash_model import FlashModel, FlashModelConfig
    from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone

    from_archive = str(args.workdir) in flash_core.__file__
    if from_archive != (args.child == "baseline"):
        raise RuntimeError(f"the {args.child} path imported flash_core from {flash_core.__file__}")
    inputs = torch.load(args.workdir / "inputs.pt")
    hand = make_hand("leap")
    model = FlashModel(FlashModelConfig(), load_text_backbone(TextBackboneConfig()), hand.surface_points)
    missing, unexpected = model.load_state_dict(inputs["weights"], strict=False)
    assert not unexpected and all(k.startswith("llm.") for k in missing)
    model.train()
    sampler = InitialStateSampler.from_hand(hand)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    step = baseline_step if args.child == "baseline" else new_step(model)
    losses, wall, cpu, faults = [], [], [], []
    batches = inputs["batches"]
    for timed in (False, True):
        for batch in batches:
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            start_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            losses.append(step(model, optimizer, sampler, inputs["clouds"], batch))
            if timed:
                wall.append(time.perf_counter() - start_wall)
                cpu.append(time.process_time() - start_cpu)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start_faults)
    name = f"{args.child}{' + malloc' if args.malloc else ''}"
    (args.workdir / f"{args.child}-{int(args.malloc)}.json").write_text(json.dumps({
        "path": name, "wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu),
        "minor_faults": statistics.median(faults), "wall_s_all": wall, "cpu_s_all": cpu, "losses": losses}))


def baseline_step(model, optimizer, sampler, clouds, batch) -> float:
    """The old step on the old batch: a cloud per row; t drawn inside from the step's generator."""
    from flash_core.flow.objective import FlowBatch, train_step

    flow = FlowBatch(batch["prompts"], clouds[batch["objects"]], batch["grasps"], initial=batch["initial"])
    logs = train_step(model, optimizer, flow, sampler, generator=torch.Generator().manual_seed(batch["times_seed"]))
    return logs["loss"]


def new_step(model):
    """`flash train`'s step: the trainer's collate, cloud cache and batch assembly around the new train_step."""
    from flash_training.train.batches import CloudCache, collate_items, flow_batch
    from flash_training.train.step import train_step

    cache = CloudCache(model.object_encoder.pointnet, model.config.object.num_points, 1000, torch.device("cpu"),
                       normals=model.config.hand_object_distance)

    def step(model, optimizer, sampler, clouds, batch) -> float:
        items = [{"object_index": o, "view": -1, "object_points": clouds[o], "x": x, "prompt": p}
                 for o, x, p in zip(batch["objects"].tolist(), batch["grasps"], batch["prompts"])]
        flow = flow_batch(collate_items(items, rows_per_chunk=ROWS_PER_OBJECT), cache, batch["initial"],
                          batch["times"], use_semantics=False)
        return train_step(model, optimizer, flow, sampler)["loss"]

    return step


if __name__ == "__main__":
    main()
