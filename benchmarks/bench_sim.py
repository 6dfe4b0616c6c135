"""The MuJoCo simulator's costs: world build (cold and cached), real-time factor (physics alone, with the depth
camera at 5 Hz, with recording at 10 fps) and the sim node's CPU use at real time.

    nice .venv/bin/python benchmarks/bench_sim.py [--sim-s 20] [--node-s 20]

Cold build parts are forced without touching the caches' other entries: CoACD runs for the mug under a fresh
decomposition seed and the visual meshes are decimated to a face count nothing else uses; the files those runs
add are removed afterwards. The loop mimics sim_node's: one batched mj_step per 100 Hz publish tick.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from flash_sim.scene import load_scene, object_mesh
from flash_sim.world import SimWorld, WorldConfig
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results" / "bench_sim.json"


def cold_parts() -> dict[str, float]:
    from flash_training.eval.convex import ConvexConfig, convex_pieces, mesh_key

    from flash_core.utils.cache import cache_dir

    mesh = object_mesh(load_scene("tabletop").objects[0], seed=0)
    config = ConvexConfig(seed=int(time.time()) % 100_000 + 1)
    start = time.perf_counter()
    convex_pieces(mesh, config)
    coacd_s = time.perf_counter() - start
    (cache_dir("convex") / f"{mesh_key(mesh, config)}.npz").unlink()
    faces = 1999  # a count no default uses: every visual mesh is decimated again
    before = set(cache_dir("sim_meshes").iterdir())
    start = time.perf_counter()
    SimWorld.from_scene("tabletop", config=WorldConfig(visual_max_faces=faces, settle_s=0.0)).close()
    decimated_build_s = time.perf_counter() - start
    for path in set(cache_dir("sim_meshes").iterdir()) - before:
        path.unlink()
    return {"coacd_mug_s": coacd_s, "build_with_decimation_s": decimated_build_s}


def loop_factor(world: SimWorld, sim_s: float, camera_hz: float, record_fps: float) -> float:
    """Sim seconds per wall second of the node's loop without ROS: batched steps, depth cloud, RGB frames."""
    period = 0.01
    next_camera, next_frame = 0.0, 0.0
    start_sim, start = world.time_s, time.perf_counter()
    for tick in range(1, int(sim_s / period) + 1):
        steps = max(1, int(round((start_sim + tick * period - world.time_s) / world.timestep_s)))
        world.step(steps)
        world.joint_state()
        if camera_hz and world.time_s >= next_camera:
            world.depth_cloud()
            next_camera += 1.0 / camera_hz
        if record_fps and world.time_s >= next_frame:
            world.rgb_frame()
            next_frame += 1.0 / record_fps
    return (world.time_s - start_sim) / (time.perf_counter() - start)


def node_cpu(node_s: float, extra: list[str]) -> dict[str, float]:
    env = {**os.environ, "ROS_DOMAIN_ID": str(100 + os.getpid() % 100), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    proc = subprocess.Popen([sys.executable, "-m", "flash_sim.sim_node", "--ros-args", "-p", "report_period_s:=5.0",
                             *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        while "ready" not in (proc.stdout.readline() or "ready"):
            pass
        time.sleep(3.0)  # renderers start, the first frames
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu_s() -> float:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        start_cpu, start = cpu_s(), time.perf_counter()
        time.sleep(node_s)
        fraction = (cpu_s() - start_cpu) / (time.perf_counter() - start)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        log = proc.communicate(timeout=15)[0]
    factors = [float(line.split("real-time factor ")[1].split()[0]) for line in log.splitlines()
               if "real-time factor" in line]
    return {"cpu_cores": fraction, "real_time_factor": float(np.median(factors)) if factors else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-s", type=float, default=20.0)
    parser.add_argument("--node-s", type=float, default=20.0)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {"build": cold_parts()}
    start = time.perf_counter()
    world = SimWorld.from_scene("tabletop", seed=0)
    results["build"]["build_cached_s"] = time.perf_counter() - start
    world.depth_cloud(), world.rgb_frame()  # renderers up before timing
    results["real_time_factor"] = {
        "physics": loop_factor(world, args.sim_s, 0.0, 0.0),
        "physics_camera_5hz": loop_factor(world, args.sim_s, 5.0, 0.0),
        "physics_camera_5hz_record_10fps": loop_factor(world, args.sim_s, 5.0, 10.0),
    }
    world.close()
    results["node_at_real_time"] = node_cpu(args.node_s, [])
    with tempfile.TemporaryDirectory() as frames:
        results["node_at_real_time_recording"] = node_cpu(args.node_s, ["-p", f"record_dir:={frames}"])
    results["machine"] = {"cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]}

    table = Table("measure", "value")
    for group, values in results.items():
        for name, value in values.items():
            table.add_row(f"{group}.{name}", f"{value:.3g}")
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
