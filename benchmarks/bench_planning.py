"""Pick planning per grasp candidate: time (median, p95), success rate, trajectory durations.

    .venv/bin/python benchmarks/bench_planning.py [--n 40] [--seed 0]

Each trial puts a box-shaped object cloud (a depth camera's view of its surface) at a random spot on the table
in front of the Gen3 and draws grasps around it (palm normal towards the box centre from a random direction in
the upper hemisphere, random roll, fingers reaching past the centre) until one is REACHABLE: an IK solution
exists at the grasp with the hand closed and only hand-object contact (that filter is not timed). Then the
whole pick is planned for that single candidate from the home configuration. Failures count in the time
statistics: a ranked list costs the sum over the candidates tried.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from flash_core.planning import HOME_ARM_Q_RAD, GraspCandidate, OmplPlanner, solve_ik, validate_trajectory
from flash_core.planning.collision import CollisionChecker
from flash_core.planning.robot_model import ARM_ACCELERATION_LIMITS_RAD_S2, ARM_VELOCITY_LIMITS_RAD_S
from flash_core.planning.scene import Scene

RESULTS = Path(__file__).resolve().parent / "results" / "bench_planning.json"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    planner = OmplPlanner()
    warm_cloud, warm_candidate, _ = reachable_trial(np.random.default_rng(10_000), planner.robot)
    planner.plan_pick([warm_candidate], warm_cloud, HOME_ARM_Q_RAD)  # imports, caches

    plan_times, success_times, durations, validation_times, reasons = [], [], [], [], {}
    draws_total = 0
    load = os.getloadavg()[0]
    for _ in track(range(args.n), description="planning"):
        cloud, candidate, draws = reachable_trial(rng, planner.robot)
        draws_total += draws
        began = time.perf_counter()
        result = planner.plan_pick([candidate], cloud, HOME_ARM_Q_RAD)
        elapsed = time.perf_counter() - began
        plan_times.append(elapsed)
        if result.success:
            success_times.append(elapsed)
            durations.append(result.plan.duration_s)
            # Re-run the independent validation alone to report its share of the planning time.
            scene = Scene(planner.config.scene, cloud)
            checkers = {True: CollisionChecker(planner.robot, scene),
                        False: CollisionChecker(planner.robot, scene.without_object())}
            began = time.perf_counter()
            for segment in result.plan.segments:
                arm = segment.trajectory.joint_names == planner.robot.arm_joint_names
                validate_trajectory(segment.trajectory, checkers[segment.name != "retreat"], segment.held_q,
                                    allow_hand_object=segment.allow_hand_object,
                                    vmax=ARM_VELOCITY_LIMITS_RAD_S if arm else None,
                                    amax=ARM_ACCELERATION_LIMITS_RAD_S2 if arm else None)
            validation_times.append(time.perf_counter() - began)
        else:
            stage = result.rejected[0][1].split(":", 1)[1].strip()[:100]
            reasons[stage] = reasons.get(stage, 0) + 1

    def stats(values):
        return {"median": float(np.median(values)), "p95": float(np.percentile(values, 95))} if values else None

    summary = {
        "n_candidates": args.n,
        "seed": args.seed,
        "grasps_drawn_per_reachable": draws_total / args.n,
        "success_rate": len(success_times) / args.n,
        "time_per_candidate_s": stats(plan_times),
        "time_per_feasible_candidate_s": stats(success_times),
        "validation_time_per_feasible_s": stats(validation_times),
        "trajectory_duration_s": stats(durations),
        "rejection_reasons": reasons,
        "load_average_1min": load,
        "cpu_count": os.cpu_count(),
    }
    table = Table(title=f"Pick planning, {args.n} random reachable table-top grasps (1-min load {load:.1f})")
    table.add_column("metric")
    table.add_column("median", justify="right")
    table.add_column("p95", justify="right")
    for key, label in (("time_per_candidate_s", "planning time / candidate (s)"),
                       ("time_per_feasible_candidate_s", "planning time / feasible candidate (s)"),
                       ("validation_time_per_feasible_s", "  of which independent validation (s)"),
                       ("trajectory_duration_s", "pick trajectory duration (s)")):
        value = summary[key]
        table.add_row(label, *(f"{value[k]:.3f}" for k in ("median", "p95")) if value else ("-", "-"))
    table.add_row("success rate", f"{summary['success_rate']:.0%}", "")
    console = Console()
    console.print(table)
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  rejected {count}x: {reason}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
