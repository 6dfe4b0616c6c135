"""Live hand point cloud: `HandModel.surface_points` for a batch of hands (FK + moving 1024 points per hand).

    .venv/bin/python benchmarks/bench_hand_cloud.py [--hands leap allegro] [--repeats 20] [--threads 2]

Per hand model, batch (64 / 256 / 1024 hands) and device: forward, forward+backward (gradient w.r.t. x),
FK alone, and - in the same run, for a ratio unaffected by the machine's load - the per-point gather it
replaced (gather each point's 4x4 link transform, then a batched 3x3 multiply). Median (p10/p90) of
`--repeats` timed runs after three warm-up runs, the variants timed in turn within each repeat; CUDA
timings synchronise. The 1-minute load average is
recorded: the machine is shared, so ratios between rows of one run are the trustworthy numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from flash_core.hands import make_hand

RESULTS = Path(__file__).resolve().parent / "results" / "bench_hand_cloud.json"
BATCHES = (64, 256, 1024)


def timed_interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, dict]:
    """Median / p10 / p90 ms of each fn, timed in turn within every repeat so that load spikes on the shared
    machine hit all variants alike."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for fn in fns.values():
        for _ in range(3):
            fn()
    sync()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append((time.perf_counter() - start) * 1e3)
    stats = {}
    for name, values in times.items():
        q10, q50, q90 = np.percentile(values, [10, 50, 90])
        stats[name] = {"median_ms": float(q50), "p10_ms": float(q10), "p90_ms": float(q90)}
    return stats


def per_point_gather(hand, x: torch.Tensor) -> torch.Tensor:
    """The baseline: one 4x4 gathered per point, then a (B, N) batch of 3x3 products."""
    poses = hand.link_poses(x)[:, hand.surface_point_link_index]  # (B, N, 4, 4)
    local = hand._surface.local  # (N, 3)
    return (poses[..., :3, :3] @ local[:, :, None]).squeeze(-1) + poses[..., :3, 3]


def random_poses(hand, batch: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(batch)  # drawn on the CPU, so every device sees the same poses
    x = hand.open_pose(batch, device="cpu").clone()
    lower, upper = hand.joint_lower.cpu(), hand.joint_upper.cpu()
    x[:, :3] = 0.1 * torch.randn(batch, 3, generator=generator)
    x[:, 3:9] = torch.randn(batch, 6, generator=generator)
    x[:, 9:] = lower + torch.rand(batch, hand.dof, generator=generator) * (upper - lower)
    return x.to(device)


def run(hand_names: list[str], devices: list[torch.device], repeats: int) -> list[dict]:
    rows = []
    for name in hand_names:
        for device in devices:
            hand = make_hand(name, device=device)
            for batch in BATCHES:
                x = random_poses(hand, batch, device)
                x_grad = x.clone().requires_grad_(True)
                torch.testing.assert_close(per_point_gather(hand, x), hand.surface_points(x))

                variants = {
                    "surface_points forward": lambda: hand.surface_points(x),
                    "surface_points forward+backward": lambda: hand.surface_points(x_grad).sum().backward(),
                    "forward_kinematics only": lambda: hand.forward_kinematics(x[:, 9:]),
                    "baseline per-point gather forward": lambda: per_point_gather(hand, x),
                    "baseline per-point gather forward+backward":
                        lambda: per_point_gather(hand, x_grad).sum().backward(),
                }
                for what, stats in timed_interleaved(variants, repeats, device).items():
                    rows.append({"hand": name, "device": str(device), "batch": batch,
                                 "points": hand._surface.num_points, "what": what, **stats})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hands", nargs="+", default=["leap", "allegro"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    load_before = os.getloadavg()[0]
    rows = run(args.hands, devices, args.repeats)
    meta = {
        "command": f"benchmarks/bench_hand_cloud.py --hands {' '.join(args.hands)} --repeats {args.repeats} "
                   f"--threads {args.threads}",
        "torch": torch.__version__, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_1min_before": load_before, "load_1min_after": os.getloadavg()[0],
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")

    table = Table(title=f"hand cloud, {args.threads} threads, load {load_before:.1f} -> {meta['load_1min_after']:.1f}")
    for column in ("hand", "device", "batch", "what", "median ms", "p10-p90 ms"):
        table.add_column(column, justify="right" if column in ("batch", "median ms") else "left")
    for row in rows:
        table.add_row(row["hand"], row["device"], str(row["batch"]), row["what"], f"{row['median_ms']:.2f}",
                      f"{row['p10_ms']:.2f}-{row['p90_ms']:.2f}")
    Console().print(table)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
