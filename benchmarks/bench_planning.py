"""Pick planning per grasp candidate: CPU and wall time per stage and in all (median, p95), success rate,
trajectory durations, and the rejection time of unreachable candidates.

    .venv/bin/python benchmarks/bench_planning.py [--n 40] [--seed 0]

Each trial puts a box-shaped object cloud (a depth camera's view of its surface) at a random spot on the table
in front of the Gen3 and draws grasps around it (palm normal towards the box centre from a random direction in
the upper hemisphere, random roll, fingers reaching past the centre) until one is REACHABLE: an IK solution
exists at the grasp with the hand closed and only hand-object contact (that filter is not timed). Then the
whole pick is planned for that single candidate from the home configuration. Failures count in the time
statistics: a ranked list costs the sum over the candidates tried.

Stage times come from timing the planner's stage functions (IK, joint paths, Cartesian lines, hand closing,
toppra, validation) where `flash_core.planning.ompl_backend` calls them; "other" is the rest of plan_pick (scene and
collision-checker set-up, bookkeeping). Unreachable candidates (grasps 1.0-1.5 m from the base) are timed in
ranked lists of 20: the time per candidate beyond the first, i.e. without the once-per-call scene set-up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from flash_core.planning import HOME_ARM_Q_RAD, GraspCandidate, OmplPlanner, ompl_backend, solve_ik
from flash_core.planning.collision import CollisionChecker
from flash_core.planning.scene import Scene

RESULTS = Path(__file__).resolve().parent / "results" / "bench_planning.json"
# Functions ompl_backend calls, by stage (OmplPlanner._reachable calls solve_ik; _joint_path calls plan_joint_path).
STAGES = {"ik": "solve_ik", "joint_paths": "plan_joint_path", "cartesian": "straight_line",
          "hand_closing": "check_hand_closing", "toppra": ("time_parameterise_polyline", "time_parameterise_spline"),
          "validation": "validate_segments"}


class StageClock:
    """CPU and wall seconds spent in each stage's functions while a plan_pick call runs."""

    def __init__(self):
        self.cpu, self.wall = {}, {}

    def reset(self):
        self.cpu, self.wall = {stage: 0.0 for stage in STAGES}, {stage: 0.0 for stage in STAGES}

    @contextlib.contextmanager
    def installed(self):
        originals = {}
        for stage, names in STAGES.items():
            for name in (names,) if isinstance(names, str) else names:
                originals[name] = getattr(ompl_backend, name)
                setattr(ompl_backend, name, self._timed(stage, originals[name]))
        try:
            yield self
        finally:
            for name, function in originals.items():
                setattr(ompl_backend, name, function)

    def _timed(self, stage, function):
        def timed(*args, **kwargs):
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.cpu[stage] += time.process_time() - cpu
                self.wall[stage] += time.perf_counter() - wall
        return timed


def box_surface(rng, center, half, n=1500):
    points = rng.uniform(-1.0, 1.0, (n, 3))
    axis = rng.integers(0, 3, n)
    points[np.arange(n), axis] = np.sign(points[np.arange(n), axis] + 1e-12)
    return center + points * half


def random_grasp(rng):
    half = rng.uniform([0.02, 0.02, 0.04], [0.04, 0.04, 0.10])
    center = np.array([rng.uniform(0.4, 0.65), rng.uniform(-0.25, 0.25), half[2]])
    cloud = box_surface(rng, center, half)
    elevation = rng.uniform(np.radians(35), np.radians(90))
    azimuth = rng.uniform(-np.pi, np.pi)
    toward = -np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    z_axis = -toward  # the palm normal (-z of the hand root) points at the box
    helper = np.array([0.0, 0.0, 1.0]) if abs(z_axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x_axis = np.cross(helper, z_axis)
    x_axis /= np.linalg.norm(x_axis)
    roll = rng.uniform(-np.pi, np.pi)
    x_axis = np.cos(roll) * x_axis + np.sin(roll) * np.cross(z_axis, x_axis)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x_axis, np.cross(z_axis, x_axis), z_axis], axis=1)
    # palm 3 cm off the box surface along the normal; fingers (along +x, ~10 cm long) reach across the centre
    reach = np.abs(half @ np.abs(pose[:3, :3])[:, 2])
    pose[:3, 3] = center - toward * (reach + 0.03) - 0.04 * x_axis
    hand_q = np.array([0.8, 0.0, 0.6, 0.4] * 3 + [1.2, 0.5, 0.3, 0.3])
    return cloud, GraspCandidate(pose, hand_q)


def reachable_trial(rng, robot):
    """(cloud, candidate, number of grasps drawn) for the first grasp that passes the reachability filter."""
    for draws in range(1, 1000):
        cloud, candidate = random_grasp(rng)
        checker = CollisionChecker(robot, Scene(object_points_m=cloud))
        if solve_ik(robot, candidate.wrist_pose, HOME_ARM_Q_RAD, candidate.hand_q,
                    is_valid=lambda q: checker.is_valid(q, allow_hand_object=True)):
            return cloud, candidate, draws
    raise RuntimeError("no reachable grasp in 1000 draws")


def unreachable_candidate(rng):
    """A grasp 1.0-1.5 m from the base, beyond the arm's reach."""
    _, candidate = random_grasp(rng)
    pose = np.array(candidate.wrist_pose)
    azimuth = rng.uniform(-np.pi / 2, np.pi / 2)
    pose[:3, 3] = rng.uniform(1.0, 1.5) * np.array([np.cos(azimuth), np.sin(azimuth), 0.0]) + [0.0, 0.0, 0.2]
    return GraspCandidate(pose, candidate.hand_q)


def unreachable_rejection_s(planner, rng, n_lists=5, list_length=20):
    """(cpu, wall) seconds per unreachable candidate beyond the first of a ranked list, median over lists."""
    cloud, _ = random_grasp(rng)
    cpu_each, wall_each = [], []
    for _ in range(n_lists):
        times = {}
        for length in (1, list_length):
            candidates = [unreachable_candidate(rng) for _ in range(length)]
            cpu, wall = time.process_time(), time.perf_counter()
            result = planner.plan_pick(candidates, cloud, HOME_ARM_Q_RAD)
            times[length] = (time.process_time() - cpu, time.perf_counter() - wall)
            assert not result.success and all("out of reach" in reason for _, reason in result.rejected)
        cpu_each.append((times[list_length][0] - times[1][0]) / (list_length - 1))
        wall_each.append((times[list_length][1] - times[1][1]) / (list_length - 1))
    return float(np.median(cpu_each)), float(np.median(wall_each))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    planner = OmplPlanner()
    warm_cloud, warm_candidate, _ = reachable_trial(np.random.default_rng(10_000), planner.robot)
    planner.plan_pick([warm_candidate], warm_cloud, HOME_ARM_Q_RAD)  # imports, caches

    clock = StageClock()
    cpu_times, wall_times, durations, reasons = [], [], [], {}
    stage_cpu = {stage: [] for stage in [*STAGES, "other"]}
    stage_wall = {stage: [] for stage in [*STAGES, "other"]}
    draws_total = 0
    load = os.getloadavg()[0]
    with clock.installed():
        for _ in track(range(args.n), description="planning"):
            cloud, candidate, draws = reachable_trial(rng, planner.robot)
            draws_total += draws
            clock.reset()
            cpu, wall = time.process_time(), time.perf_counter()
            result = planner.plan_pick([candidate], cloud, HOME_ARM_Q_RAD)
            cpu_times.append(time.process_time() - cpu)
            wall_times.append(time.perf_counter() - wall)
            for stage in STAGES:
                stage_cpu[stage].append(clock.cpu[stage])
                stage_wall[stage].append(clock.wall[stage])
            stage_cpu["other"].append(cpu_times[-1] - sum(clock.cpu.values()))
            stage_wall["other"].append(wall_times[-1] - sum(clock.wall.values()))
            if result.success:
                durations.append(result.plan.duration_s)
            else:
                stage = result.rejected[0][1].split(":", 1)[1].strip()[:100]
                reasons[stage] = reasons.get(stage, 0) + 1
    unreachable_cpu_s, unreachable_wall_s = unreachable_rejection_s(planner, np.random.default_rng(args.seed + 1))

    def stats(values):
        return {"median": float(np.median(values)), "p95": float(np.percentile(values, 95))} if values else None

    summary = {
        "n_candidates": args.n,
        "seed": args.seed,
        "grasps_drawn_per_reachable": draws_total / args.n,
        "success_rate": len(durations) / args.n,
        "cpu_time_per_candidate_s": stats(cpu_times),
        "wall_time_per_candidate_s": stats(wall_times),
        "stage_cpu_time_per_candidate_s": {stage: stats(values) for stage, values in stage_cpu.items()},
        "stage_wall_time_per_candidate_s": {stage: stats(values) for stage, values in stage_wall.items()},
        "unreachable_rejection_cpu_s": unreachable_cpu_s,
        "unreachable_rejection_wall_s": unreachable_wall_s,
        "trajectory_duration_s": stats(durations),
        "rejection_reasons": reasons,
        "load_average_1min": load,
        "cpu_count": os.cpu_count(),
    }
    table = Table(title=f"Pick planning, {args.n} random reachable table-top grasps (1-min load {load:.1f})")
    table.add_column("per candidate (ms)")
    for column in ("CPU median", "CPU p95", "wall median", "wall p95"):
        table.add_column(column, justify="right")
    rows = [("whole plan", stats(cpu_times), stats(wall_times))]
    rows += [(f"  {stage}", stats(stage_cpu[stage]), stats(stage_wall[stage])) for stage in stage_cpu]
    for label, cpu_stats, wall_stats in rows:
        table.add_row(label, *(f"{1000 * s[k]:.1f}" for s in (cpu_stats, wall_stats) for k in ("median", "p95")))
    table.add_row("unreachable candidate", f"{1000 * unreachable_cpu_s:.3f}", "",
                  f"{1000 * unreachable_wall_s:.3f}", "")
    duration = summary["trajectory_duration_s"]
    table.add_row("pick trajectory duration (s)", f"{duration['median']:.2f}" if duration else "-",
                  f"{duration['p95']:.2f}" if duration else "-", "", "")
    table.add_row("success rate", f"{summary['success_rate']:.0%}", "", "", "")
    console = Console()
    console.print(table)
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  rejected {count}x: {reason}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
