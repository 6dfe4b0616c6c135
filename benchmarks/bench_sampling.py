"""Grasp sampling speed: backbones x fusions x K grasps x ODE methods, cached vs naive conditioning.

    .venv/bin/python benchmarks/bench_sampling.py                 # the recorded CPU run (see docs/benchmarks.md)
    .venv/bin/python benchmarks/bench_sampling.py --ks 1 16 --backbones scratch --fusions compact

For each (backbone, fusion): K = 1/16/64 grasps of one goal with dopri5 and 8/16 Euler steps on the cached path
(prompt + object encoded once per goal; for "llm_backbone" the [text, object] prefix's KV cache is reused), then, at
the largest K, the naive path (every row re-encodes prompt and object at every evaluation) against the cached one
with the same seed, interleaved and repeated (fastest of each): speed-up and the largest difference of the final
states. Weights are untrained (the head is
randomised so the field is not zero); speed does not depend on training. Peak memory is the process's largest
resident set during a run, model weights included (CPU), or torch's peak allocation (CUDA).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import torch

from flash_core.flow.solver import SolverConfig
from flash_core.generator import GraspGenerator
from flash_core.hands import make_hand
from flash_core.model.flash_model import FlashModel, FlashModelConfig
from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone

PROMPT = "grasp the mug by its handle with all fingers"
CORPUS = [PROMPT, "pinch the rim with two fingers", "hold the bottle firmly", "lift the box from the top"]


class PeakMemory:
    """Largest resident set of the process (CPU, polled every 2 ms) or torch's peak CUDA allocation in the block."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mb = 0.0

    @staticmethod
    def _rss_mb() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * 4096 / 2**20

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._stop = threading.Event()
        self._peak = self._rss_mb()

        def poll():
            while not self._stop.is_set():
                self._peak = max(self._peak, self._rss_mb())
                time.sleep(0.002)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self._peak, self._rss_mb())


def build_generator(backbone: str, fusion: str, text_cache: dict, hand, device) -> GraspGenerator:
    text_config = TextBackboneConfig() if backbone == "smollm2" else TextBackboneConfig(kind="scratch")
    if backbone not in text_cache:
        text_cache[backbone] = load_text_backbone(text_config, scratch_corpus=CORPUS)
    torch.manual_seed(0)
    model = FlashModel(FlashModelConfig(fusion=fusion, text=text_config), text_cache[backbone], hand.surface_points)
    with torch.no_grad():  # untrained weights, but a head that says something (it starts at zero)
        for param in model.head[-1].parameters():
            param.normal_(0.0, 0.02)
    return GraspGenerator(model.to(device).eval(), hand)


def timed_sample(generator, goals, k, solver, cached, device):
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        x, nfe = generator.sample(goals, k, seed=0, solver=solver, cached=cached)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return x, nfe, seconds, memory.peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--backbones", nargs="+", default=["smollm2", "scratch"], choices=["smollm2", "scratch"])
    parser.add_argument("--fusions", nargs="+", default=["compact", "llm_backbone"],
                        choices=["compact", "llm_backbone"])
    parser.add_argument("--fixed-steps", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--no-dopri5", action="store_true", help="skip the adaptive solver")
    parser.add_argument("--naive-steps", type=int, default=8, help="Euler steps of the naive vs cached comparison")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved naive/cached repeats (fastest counts)")
    parser.add_argument("--compare-only", action="store_true", help="only the naive vs cached comparison")
    parser.add_argument("--max-k-llm-backbone-smollm2", type=int, default=64,
                        help="cap K for SmolLM2 as backbone (30 layers per evaluation; slow on a CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_sampling.json"))
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    console = Console()
    hand = make_hand("leap", device=device, allow_primitives=True)
    cloud = torch.nn.functional.normalize(torch.randn(4096, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    cloud = cloud * torch.tensor([0.04, 0.04, 0.06])  # an ellipsoid, 8 x 8 x 12 cm
    methods = ([] if args.no_dopri5 else [SolverConfig(method="dopri5")]) + [
        SolverConfig(method="euler", steps=s) for s in args.fixed_steps]
    rows, comparisons, text_cache = [], [], {}
    for backbone in args.backbones:
        for fusion in args.fusions:
            console.print(f"[bold]{backbone} / {fusion}[/bold]")
            generator = build_generator(backbone, fusion, text_cache, hand, device)
            goals = generator.prepare_goals([PROMPT], [cloud])
            ks = [k for k in args.ks if not (backbone == "smollm2" and fusion == "llm_backbone"
                                             and k > args.max_k_llm_backbone_smollm2)]
            generator.sample(goals, 1, seed=0, solver=SolverConfig(method="euler", steps=1))  # warm-up
            for k in ks if not args.compare_only else ():
                for solver in methods:
                    _, nfe, seconds, peak = timed_sample(generator, goals, k, solver, True, device)
                    rows.append(dict(backbone=backbone, fusion=fusion, k=k, method=solver.method,
                                     steps=None if solver.method == "dopri5" else solver.steps, nfe=nfe,
                                     seconds=seconds, grasps_per_s=k / seconds, ms_per_nfe=1e3 * seconds / nfe,
                                     peak_mb=peak))
                    console.print(f"  K={k:3d} {solver.method}:{solver.steps if solver.method != 'dopri5' else ''}"
                                  f" NFE={nfe} {seconds:.2f}s")
            k = max(ks)
            solver = SolverConfig(method="euler", steps=args.naive_steps)
            # Interleaved repeats, fastest of each: load from other jobs then falls on both paths alike.
            cached_s = naive_s = float("inf")
            for _ in range(args.repeats):
                cached, _, seconds, cached_mb = timed_sample(generator, goals, k, solver, True, device)
                cached_s = min(cached_s, seconds)
                naive, _, seconds, naive_mb = timed_sample(generator, goals, k, solver, False, device)
                naive_s = min(naive_s, seconds)
            comparisons.append(dict(backbone=backbone, fusion=fusion, k=k, steps=args.naive_steps,
                                    cached_s=cached_s, naive_s=naive_s, speedup=naive_s / cached_s,
                                    max_abs_diff=float((cached - naive).abs().max()),
                                    cached_peak_mb=cached_mb, naive_peak_mb=naive_mb))
            console.print(f"  naive vs cached K={k}: {naive_s:.2f}s vs {cached_s:.2f}s")

    table = Table(title=f"Grasp sampling on {device} ({args.threads} threads), one goal, K grasps")
    for column in ("backbone", "fusion", "K", "method", "NFE", "s", "grasps/s", "ms/NFE", "peak MB"):
        table.add_column(column, justify="right")
    for r in rows:
        method = r["method"] if r["steps"] is None else f"{r['method']} {r['steps']}"
        table.add_row(r["backbone"], r["fusion"], str(r["k"]), method, str(r["nfe"]), f"{r['seconds']:.2f}",
                      f"{r['grasps_per_s']:.1f}", f"{r['ms_per_nfe']:.0f}", f"{r['peak_mb']:.0f}")
    console.print(table)
    compare = Table(title="Naive (all conditioning re-encoded at every evaluation) vs cached, same seed")
    for column in ("backbone", "fusion", "K", "Euler steps", "naive s", "cached s", "speed-up", "max |diff|",
                   "naive MB", "cached MB"):
        compare.add_column(column, justify="right")
    for c in comparisons:
        compare.add_row(c["backbone"], c["fusion"], str(c["k"]), str(c["steps"]), f"{c['naive_s']:.2f}",
                        f"{c['cached_s']:.2f}", f"{c['speedup']:.1f}x", f"{c['max_abs_diff']:.1e}",
                        f"{c['naive_peak_mb']:.0f}", f"{c['cached_peak_mb']:.0f}")
    console.print(compare)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    args.out.write_text(json.dumps({"device": str(device), "threads": args.threads, "load_average": load,
                                   "runs": rows, "naive_vs_cached": comparisons}, indent=1))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
