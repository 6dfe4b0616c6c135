"""Run the simulated protocols over many grasps: inline, on a local process pool, or on a Ray cluster.

The unit of work is a `SimTask`: one (hand, object) pair and a chunk of its grasps, so a worker compiles the
MuJoCo scene once per chunk. Tasks carry plain arrays (the mesh, its convex pieces, the poses), pickle cheaply
and need nothing from the parent process, which keeps them spawn-safe and lets Ray ship them to other
machines. Results do not depend on the backend, the worker count or the order tasks finish in: every grasp is
simulated from its own reset with the same settings.

    results = simulate(inputs, EvalConfig(workers=4))                 # local pool, progress bar
    results = simulate(inputs, EvalConfig(backend="ray"))             # ray.init() first, or RAY_ADDRESS
"""

from __future__ import annotations

import math
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np
from flash_training.eval.cases import EvalInput
from flash_training.eval.convex import ConvexConfig, ConvexPieces, convex_pieces
from flash_training.eval.protocols import (
    ForceClosureConfig,
    GraspPose,
    LiftConfig,
    ProtocolResult,
    run_force_closure,
    run_lift,
)
from flash_training.eval.scene import SimConfig
from tqdm import tqdm

PROTOCOLS = ("lift", "force")
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class EvalConfig:
    protocols: tuple[str, ...] = PROTOCOLS
    sim: SimConfig = field(default_factory=SimConfig)
    lift: LiftConfig = field(default_factory=LiftConfig)
    force: ForceClosureConfig = field(default_factory=ForceClosureConfig)
    convex: ConvexConfig = field(default_factory=ConvexConfig)
    workers: int = 1  # local processes; 1 runs inline
    backend: str = "local"  # "local" or "ray"
    max_chunk: int = 16  # grasps per task at most (one scene compilation each)
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.protocols) - set(PROTOCOLS)
        if unknown or not self.protocols:
            raise ValueError(f"protocols must be a non-empty subset of {PROTOCOLS}, got {self.protocols}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.workers < 1 or self.max_chunk < 1:
            raise ValueError("workers and max_chunk must be at least 1")


@dataclass(frozen=True)
class SimGrasp:
    index: int
    pose: GraspPose
    depths_m: tuple[float | None, float | None] | None = None  # (hand-object, self) from the assessment


@dataclass(frozen=True)
class SimTask:
    hand: str
    vertices: np.ndarray  # (V, 3) object mesh, object frame
    faces: np.ndarray  # (F, 3)
    pieces: ConvexPieces
    grasps: tuple[SimGrasp, ...]
    config: EvalConfig


@dataclass(frozen=True)
class GraspSimResult:
    index: int
    lift: ProtocolResult | None = None
    force: ProtocolResult | None = None


def grasp_pose(x: np.ndarray, up: np.ndarray, approach_in_hand: np.ndarray) -> GraspPose:
    """x (25,) in the object frame -> the simulator's wrist position, quaternion (w, x, y, z) and joints."""
    import torch

    from flash_core.geometry.rotations import matrix_to_quaternion, rot6d_to_matrix

    rotation = rot6d_to_matrix(torch.as_tensor(x[3:9], dtype=torch.float64))
    return GraspPose(
        wrist_pos=np.asarray(x[:3], np.float64), wrist_quat=matrix_to_quaternion(rotation).numpy(),
        joints=np.asarray(x[9:], np.float64), approach=rotation.numpy() @ approach_in_hand,
        up=np.asarray(up, np.float64) / np.linalg.norm(up),
    )


def run_task(task: SimTask) -> list[GraspSimResult]:
    """Simulate one chunk (runs in a worker process or a Ray task)."""
    import trimesh
    from flash_training.eval.scene import GraspScene

    mesh = trimesh.Trimesh(task.vertices, task.faces, process=False)
    scene = GraspScene(task.hand, mesh, task.pieces, task.config.sim)
    results = []
    for grasp in task.grasps:
        lift = force = None
        if "lift" in task.config.protocols:
            lift = run_lift(scene, grasp.pose, task.config.lift, grasp.depths_m)
        if "force" in task.config.protocols:
            force = run_force_closure(scene, grasp.pose, task.config.force, grasp.depths_m)
        results.append(GraspSimResult(grasp.index, lift, force))
    return results


def _decompose(args: tuple[np.ndarray, np.ndarray, ConvexConfig]) -> ConvexPieces:
    import trimesh

    vertices, faces, config = args
    return convex_pieces(trimesh.Trimesh(vertices, faces, process=False), config)


def approach_directions(hands: set[str]) -> dict[str, np.ndarray]:
    """Per hand, the palm normal in its root frame (the way the wrist approaches the object)."""
    import torch

    from flash_core.hands import make_hand

    return {h: make_hand(h, dtype=torch.float64).palm_frame().normal.numpy() for h in sorted(hands)}


def make_tasks(inputs: EvalInput, config: EvalConfig, pieces: dict[str, ConvexPieces],
               depths: dict[int, tuple[float | None, float | None]] | None = None) -> list[SimTask]:
    """Group grasps by (hand, object) and cut the groups into chunks of at most `max_chunk`, sized so every
    worker gets work."""
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for case in inputs.cases:
        groups[(case.hand, case.object_key)].append(case)
    approach = approach_directions({hand for hand, _ in groups})
    chunk = max(1, min(config.max_chunk, math.ceil(len(inputs.cases) / (2 * config.workers))))
    tasks = []
    for (hand, key), cases in groups.items():
        obj = inputs.objects[key]
        vertices, faces = np.asarray(obj.mesh.vertices, np.float64), np.asarray(obj.mesh.faces, np.int64)
        grasps = [SimGrasp(c.index, grasp_pose(c.x, c.up_in_object, approach[hand]), (depths or {}).get(c.index))
                  for c in cases]
        for start in range(0, len(grasps), chunk):
            tasks.append(SimTask(hand, vertices, faces, pieces[key], tuple(grasps[start:start + chunk]), config))
    return tasks


def _map(function, items: list, config: EvalConfig, sizes: list[int], description: str) -> list:
    """function over items on the configured backend, results in input order, one progress bar."""
    bar = tqdm(total=sum(sizes), desc=description, unit="grasp" if "simulat" in description else "object",
               disable=not config.progress)
    results: list = [None] * len(items)
    try:
        if config.backend == "ray":
            ray = _ray()
            remote = ray.remote(num_cpus=1)(function)
            pending = {remote.remote(item): i for i, item in enumerate(items)}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(done[0])
                results[i] = ray.get(done[0])
                bar.update(sizes[i])
        elif config.workers == 1 or len(items) == 1:
            for i, item in enumerate(items):
                results[i] = function(item)
                bar.update(sizes[i])
        else:
            with ProcessPoolExecutor(max_workers=min(config.workers, len(items)), mp_context=get_context("spawn"),
                                     initializer=_quiet_worker) as pool:
                futures = {pool.submit(function, item): i for i, item in enumerate(items)}
                for future in as_completed(futures):
                    i = futures[future]
                    results[i] = future.result()
                    bar.update(sizes[i])
    finally:
        bar.close()
    return results


def _quiet_worker() -> None:
    """One torch thread per worker process: the pool already uses the cores."""
    import torch

    torch.set_num_threads(1)


def _ray():
    from flash_core.utils.require import require_package

    ray = require_package("ray", feature="the Ray evaluation backend", install_hint="pip install ray==2.60.0")
    if not ray.is_initialized():
        ray.init()  # RAY_ADDRESS selects a cluster; without it a local one starts
    return ray


def decompose_objects(inputs: EvalInput, config: EvalConfig) -> dict[str, ConvexPieces]:
    """Convex pieces of every object (cached on disk, computed on the backend when missing)."""
    keys = sorted({c.object_key for c in inputs.cases})
    items = [(np.asarray(inputs.objects[k].mesh.vertices, np.float64), np.asarray(inputs.objects[k].mesh.faces),
              config.convex) for k in keys]
    return dict(zip(keys, _map(_decompose, items, config, [1] * len(items), "convex decomposition")))


def simulate(inputs: EvalInput, config: EvalConfig,
             depths: dict[int, tuple[float | None, float | None]] | None = None) -> dict[int, GraspSimResult]:
    """Both protocols (as configured) for every grasp; keyed by `GraspCase.index`."""
    pieces = decompose_objects(inputs, config)
    tasks = make_tasks(inputs, config, pieces, depths)
    chunks = _map(run_task, tasks, config, [len(t.grasps) for t in tasks], "simulating grasps")
    return {r.index: r for chunk in chunks for r in chunk}
