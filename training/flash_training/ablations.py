"""`flash ablations`: the FLASH paper's Table 2 ablations and Table 1's comparison, trained and judged alike.

    flash ablations --data data/flash-drive-default --out runs/ablations --budget-steps 1200 --workers 2
    flash ablations ... (the same command again)    # finished variants are skipped, an interrupted one resumes
    flash ablations --data DIR --out runs/default-report --full-run runs/default --variants full no_live_hand
        # the full model is a finished `flash train` run (its config and steps are every variant's); only the
        # variants named are trained (the full model and the baselines are always judged)

Every variant is `flash train` (`flash_training.train.train`) on the same data with the same budget, seed and
config, the full model's (the defaults, `--config FILE`, `--set key=value`) with one switch changed:

    full            the full model
    no_live_hand    model.use_live_hand=false: the live hand cloud of x_t is not fed back (nor its distances)
    scratch_text    a transformer trained from scratch with its own tokenizer instead of the pretrained LLM
    semantics       per-point semantic features switched: off when the full model uses them, on (with the data's
                    feature width) when it does not (the default model does not)
    no_text         model.use_text=false: no prompt at all
    hand_object_distance  the live hand points' distances to the object cloud switched (not in the paper):
                    off when the full model uses them, on when it does not
    unrefined       trained on the grasps before refinement: `x_unrefined.npy` beside every shard's `x.npy` (a
                    proposed addition to FLASH-Drive; data sets without it report the variant as not run)

A variant that would equal the full model, or cannot run on this data, is listed with the reason instead.
Judged besides the variants: the full model with the physics polish, the full model settled on the cloud
(`flash_core.model.settle`), the same settled grasps ranked first of `--ranked-pool` times as many (what a grasp
server's client executes first: `GraspGenerator`'s ranking), nearest-neighbour retrieval from the training split
(`baselines.retrieval`) and the geometry-only optimiser given the mesh (`baselines.optimiser`).

Judging: `--goals` grasps drawn (seeded) from the `--split` split (default: unseen objects) give goals, each its
object and its high-level prompt; every method generates `--grasps` grasps per goal from the object's full cloud
and, separately, from one of its stored single-view clouds (`--clouds ... partial_completed`: also from that view
completed by symmetry, `flash_core.perception.completion`); `flash_training.eval.evaluate_grasps` simulates both
protocols and measures them, with every stored grasp of the goal's object as the Chamfer reference. `--methods`
judges only the methods named (e.g. `full_settle`). `--turn-objects` turns every goal's object (mesh, clouds,
camera and reference grasps) about the up axis by a seeded random angle: the data's objects stand in their
sources' canonical orientation, a robot's do not.

    <out>/runs/<variant>/          the `flash train` run (its model/ is what is judged) + ablation_time.json
    <out>/data-unrefined/          the data set with the unrefined grasps in place (symbolic links)
    <out>/eval/<method>/<cloud>/   metrics.json, report.md, renders of failures, generation.json
    <out>/report.md                both tables, the settings, training time and hardware (`ablation_report`)
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

UNREFINED_FILE = "x_unrefined.npy"
TIME_FILE = "ablation_time.json"
MAX_REFERENCES = 64  # ground-truth grasps per goal for the Chamfer metric
# "partial_completed": the single-view cloud completed by symmetry (flash_core.perception.completion), as the
# perception node sends it with complete_occluded on.
CLOUDS = ("full", "partial", "partial_completed")
DEFAULT_CLOUDS = ("full", "partial")
VARIANTS = ("full", "no_live_hand", "scratch_text", "semantics", "no_text", "hand_object_distance", "unrefined")


@dataclass(frozen=True)
class AblationConfig:
    data: str  # a FLASH-Drive folder
    out: str
    budget_steps: int  # optimiser steps of every variant
    train_config: str | None = None  # YAML overrides of the training defaults (the full model)
    overrides: tuple[str, ...] = ()  # `section.key=value` overrides, as `flash train --set`
    split: str = "unseen_object"
    goals: int = 24
    grasps_per_goal: int = 4
    solver: str = "euler"
    solver_steps: int = 16
    protocols: tuple[str, ...] = ("lift", "force")
    workers: int = 1  # simulation processes
    renders: int = 2  # failed grasps drawn per method, cloud and protocol
    seed: int = 0
    progress: bool = True
    variants: tuple[str, ...] = VARIANTS  # the variants trained and judged ("full" always is)
    full_run: str | None = None  # a finished `flash train` run as the full model: its config and steps are the base
    clouds: tuple[str, ...] = DEFAULT_CLOUDS  # the goal clouds judged (CLOUDS)
    methods: tuple[str, ...] | None = None  # judge only these methods (folder names, e.g. full_settle); None: all
    ranked_pool: int = 4  # full_settle_ranked judges the grasps_per_goal ranked first of this many times as many
    turn_objects: bool = False  # each goal's object turned about the up axis by a seeded random angle

    def __post_init__(self) -> None:
        if min(self.budget_steps, self.goals, self.grasps_per_goal, self.solver_steps, self.workers,
               self.ranked_pool) < 1:
            raise ValueError("budget steps, goals, grasps per goal, solver steps, workers and ranked pool must be >= 1")
        unknown = set(self.variants) - set(VARIANTS)
        if unknown:
            raise ValueError(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
        if not self.clouds or set(self.clouds) - set(CLOUDS):
            raise ValueError(f"clouds must be some of {', '.join(CLOUDS)}, got {list(self.clouds)}")


@dataclass
class VariantPlan:
    name: str
    label: str  # its row in the report
    config: Any | None  # the TrainConfig, None when the variant is not run
    reason: str | None = None  # why not
    train_seconds: float | None = None


@dataclass
class MethodResult:
    name: str
    label: str
    summaries: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # cloud -> summary["all"]
    seconds_per_goal: dict[str, float] = field(default_factory=dict)
    note: str | None = None


# ----------------------------------------------------------------------------------------------------------------
# variants


def base_config(config: AblationConfig):
    """The full model's TrainConfig: defaults, YAML, overrides (or a given run's own config); the data, budget and
    seed of the ablation, and no periodic `flash eval` (every variant is judged here, at the end)."""
    from flash_training.train.config import load_config

    if config.full_run is not None:
        train = full_run_config(config.full_run, config.overrides)  # its own steps and seed
    else:
        train = load_config(config.train_config, list(config.overrides))
        train.loop.steps, train.seed = config.budget_steps, config.seed
    train.data.root = config.data
    train.loop.eval_every, train.loop.progress = 0, config.progress
    return train


def full_run_config(run_dir: str | Path, overrides: tuple[str, ...] = ()):
    """The TrainConfig a `flash train` run was made with (its config.yaml), then `overrides`."""
    from flash_training.train.config import load_config
    from flash_training.train.trainer import CONFIG_FILE

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"--full-run {run_dir} holds no {CONFIG_FILE}: not a `flash train` run")
    return load_config(path, list(overrides))


def _with(base, overrides: dict[str, Any], data_root: str | None = None):
    from flash_training.train.config import TrainConfig, config_from_dict, config_to_dict, merge

    changed = config_from_dict(TrainConfig, merge(config_to_dict(base), overrides))
    if data_root is not None:
        changed.data.root = data_root
    return changed


def semantic_width(data: str | Path) -> int | None:
    """Width C of the data set's per-point semantic features, None when its objects have none."""
    from flash_training.data.storage import DatasetReader

    reader = DatasetReader(data)
    if not reader.objects or not all(o["semantic"] for o in reader.objects):
        return None
    return int(reader.object_arrays(0)["semantic"].shape[1])


def unrefined_dataset(data: Path, out: Path) -> tuple[Path | None, str | None]:
    """(root, None) of a copy of the data set made of symbolic links whose grasps x are the unrefined ones, or
    (None, why not)."""
    manifest = json.loads((data / "manifest.json").read_text())
    shards = [data / s["path"] for s in manifest["shards"]]
    missing = [s for s in shards if not (s / UNREFINED_FILE).is_file()]
    if missing or not shards:
        return None, (f"the data set keeps no grasps from before refinement ({UNREFINED_FILE} is missing from "
                      f"{len(missing)} of {len(shards)} shards)")
    root = out / "data-unrefined"

    def link(path: Path, target: Path) -> None:
        if not path.is_symlink():
            path.symlink_to(target.resolve())

    root.mkdir(parents=True, exist_ok=True)
    for entry in data.iterdir():
        if entry.name != "grasps":
            link(root / entry.name, entry)
    for shard in shards:
        folder = root / shard.relative_to(data)
        folder.mkdir(parents=True, exist_ok=True)
        for entry in shard.iterdir():
            if entry.name not in ("x.npy", UNREFINED_FILE):
                link(folder / entry.name, entry)
        link(folder / "x.npy", shard / UNREFINED_FILE)
    return root, None


def plan_variants(base, data: Path, out: Path) -> list[VariantPlan]:
    """The variants of the full model `base` (a TrainConfig), each with its config or the reason it is not run."""
    model = base.model
    plans = [VariantPlan("full", "FLASH (full)", base)]

    def variant(name: str, label: str, overrides: dict[str, Any] | None, reason: str | None = None,
                data_root: str | None = None) -> None:
        config = None if overrides is None else _with(base, overrides, data_root)
        plans.append(VariantPlan(name, label, config, reason))

    off = "the full model already runs without it"
    # The hand-object distance describes the live hand cloud: without the cloud it goes too.
    variant("no_live_hand", "w/o live hand cloud",
            {"model": {"use_live_hand": False, "hand_object_distance": False}} if model.use_live_hand else None,
            None if model.use_live_hand else off)
    scratch = model.text.kind == "scratch"
    variant("scratch_text", "w/o LLM (text transformer from scratch)",
            None if scratch else {"model": {"text": {"kind": "scratch"}, "llm_training": None}},
            "the full model's text model is already trained from scratch" if scratch else None)
    width = semantic_width(data)
    if model.use_semantics:
        variant("semantics", "w/o semantic features", {"model": {"object": {"semantic_dim": 0}}})
    else:
        variant("semantics", "with semantic features", None if width is None else
                {"model": {"object": {"semantic_dim": width}}}, "the data set stores no semantic features")
    variant("no_text", "w/o text", {"model": {"use_text": False}} if model.use_text else None,
            None if model.use_text else off)
    distance = model.hand_object_distance
    variant("hand_object_distance", "w/o hand-object distance" if distance else "with hand-object distance",
            {"model": {"hand_object_distance": not distance}} if model.use_live_hand else None,
            None if model.use_live_hand else "the full model has no live hand cloud to describe")
    root, reason = unrefined_dataset(data, out)
    variant("unrefined", "trained on unrefined grasps", None if root is None else {}, reason,
            None if root is None else str(root))
    return plans


def train_variant(plan: VariantPlan, run_dir: Path, log) -> None:
    """Train (or resume, or skip when finished) one variant; adds up its training time across sittings."""
    from flash_core.model.checkpoint import CONFIG_FILE
    from flash_training.train.checkpointing import latest_checkpoint, read_training_state
    from flash_training.train.trainer import train

    time_file = run_dir / TIME_FILE
    spent = json.loads(time_file.read_text())["train_seconds"] if time_file.is_file() else 0.0
    checkpoint = latest_checkpoint(run_dir)
    done = (checkpoint is not None and (run_dir / "model" / CONFIG_FILE).is_file()
            and read_training_state(checkpoint)[0]["step"] >= plan.config.loop.steps)
    if not done:
        log(f"training {plan.name} ({plan.label}) to step {plan.config.loop.steps}")
        started = time.perf_counter()
        train(plan.config, run_dir, resume=True)
        spent += time.perf_counter() - started
        time_file.write_text(json.dumps({"train_seconds": spent}))
    plan.train_seconds = spent


def given_run_seconds(run_dir: Path) -> float | None:
    """Seconds a finished `flash train` run spent in training steps (from its logged step rates; validation and
    checkpoint writing not counted), None when it logged none."""
    from flash_training.train.trainer import FINAL_MODEL, METRICS_FILE

    if not (run_dir / FINAL_MODEL).is_dir():
        raise FileNotFoundError(f"--full-run {run_dir} has no {FINAL_MODEL}/: train it to the end first")
    metrics = run_dir / METRICS_FILE
    rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.is_file() else []
    train = [r for r in rows if r.get("split") == "train" and r.get("train/steps_per_s", 0) > 0]
    if not train:
        return None
    steps = np.diff([0] + [r["step"] for r in train])
    return float(sum(n / r["train/steps_per_s"] for n, r in zip(steps, train, strict=True)))


# ----------------------------------------------------------------------------------------------------------------
# goals and judging


def make_goals(config: AblationConfig, hand: str) -> tuple[dict[str, list], Any]:
    """Goals per cloud kind of `config.clouds` (the partial ones only when the data stores views) and the objects
    they refer to."""
    from flash_core.perception.completion import complete_occluded
    from flash_training.data.storage import DatasetReader
    from flash_training.eval.dataset_input import read_dataset
    from flash_training.grasp_methods import Goal

    picked = read_dataset(config.data, config.split, config.goals, (hand,), config.seed)
    reader = DatasetReader(config.data)
    hand_index = reader.hands.index(hand)
    goals: dict[str, list] = {cloud: [] for cloud in CLOUDS}
    objects = dict(picked.objects)
    for number, case in enumerate(picked.cases):
        obj = int(reader.grasp_object[case.index])
        arrays = reader.object_arrays(obj)
        same = np.flatnonzero((reader.grasp_object == obj) & (reader.grasp_hand == hand_index))[:MAX_REFERENCES]
        references = np.stack([reader.grasp_x(int(i)) for i in same]).astype(np.float64)
        semantic = np.array(arrays["semantic"], np.float32) if "semantic" in arrays else None
        turn = np.eye(3)  # the object frame has z up, as the sources build objects and the views render them
        if config.turn_objects:
            key, turn, references = turned_object(objects, case.object_key, references,
                                                  np.random.default_rng([config.seed, number, 1]).uniform(0, 2 * np.pi))
        else:
            key = case.object_key
        common = dict(key=key, prompt=case.prompt, obj=objects[key], reference_x=references)

        def turned(vectors, turn=turn):  # (N, 3) stored points or normals -> the goal's
            return (np.asarray(vectors, np.float64) @ turn.T).astype(np.float32)

        goals["full"].append(Goal(points=turned(arrays["points"]), normals=turned(arrays["normals"]),
                                  features=semantic, cloud="full", **common))
        if "view_points" in arrays:
            view = int(np.random.default_rng([config.seed, number]).integers(len(arrays["view_points"])))
            nearest = np.array(arrays["view_nearest"][view])
            points, normals = turned(arrays["view_points"][view]), turned(arrays["view_normals"][view])
            goals["partial"].append(Goal(points=points, normals=normals, cloud="partial",
                                         features=None if semantic is None else semantic[nearest], **common))
            if "partial_completed" in config.clouds:
                camera_m = turn @ arrays["view_cam_to_object"][view][:3, 3]
                done = complete_occluded(points, camera_m, normals).thinned(len(points))
                goals["partial_completed"].append(Goal(
                    points=done.points_m, normals=done.normals, cloud="partial_completed",
                    features=None if semantic is None else semantic[nearest[done.source]], **common))
    return {cloud: goals[cloud] for cloud in config.clouds if goals[cloud]}, objects


def turned_object(objects: dict, key: str, references: np.ndarray, angle_rad: float):
    """(key, rotation (3, 3), references (R, 25)) of `objects[key]` turned by angle_rad about its frame's z axis,
    added to `objects` under a key of its own."""
    import torch

    from flash_core.geometry.rotations import make_transform, rotate_hand_states, yaw_matrix
    from flash_training.eval.cases import EvalObject

    rotation = yaw_matrix(torch.tensor(angle_rad, dtype=torch.float64))
    turn = rotation.numpy()
    original = objects[key]
    turned_key = f"{key}@yaw{np.degrees(angle_rad):.0f}"
    mesh = original.mesh.copy()
    mesh.apply_transform(make_transform(rotation, torch.zeros(3, dtype=torch.float64)).numpy())
    objects[turned_key] = EvalObject(key=turned_key, mesh=mesh, category=original.category,
                                     part_names=original.part_names, face_parts=original.face_parts)
    turned = rotate_hand_states(torch.as_tensor(references), rotation).numpy()
    return turned_key, turn, turned


def judging_settings(config: AblationConfig) -> dict[str, Any]:
    """What decides a judgement besides the method: a stored one is reused only when these match."""
    keys = ("data", "split", "goals", "grasps_per_goal", "solver", "solver_steps", "protocols", "seed", "ranked_pool",
            "turn_objects")
    return json.loads(json.dumps({key: getattr(config, key) for key in keys}))  # as stored: tuples become lists


def judge(method, goals: list, objects: dict, config: AblationConfig, out: Path, log) -> tuple[dict[str, Any], float]:
    """(summary of all grasps, seconds per goal) of the GraspMethod `method()` returns on `goals`; read back
    (without making the method) when `out` holds them, judged with the same settings."""
    from flash_training.eval.cases import EvalInput, GraspCase
    from flash_training.eval.evaluate import evaluate_grasps
    from flash_training.eval.runner import EvalConfig

    metrics, timing = out / "metrics.json", out / "generation.json"
    if metrics.is_file() and timing.is_file():
        stored = json.loads(timing.read_text())
        if stored["settings"] == judging_settings(config):
            return json.loads(metrics.read_text())["summary"]["all"], stored["seconds_per_goal"]
    method = method()
    log(f"judging {method.name} on {goals[0].cloud} clouds")
    cases, started = [], time.perf_counter()
    for number, goal in enumerate(goals):
        x = method.grasps(goal, config.grasps_per_goal, config.seed + number)
        cases += [GraspCase(index=number * len(x) + k, hand=method.hand_name, object_key=goal.key, x=x[k],
                            prompt=goal.prompt, target_part=goal.target_part, split=config.split,
                            reference_x=goal.reference_x) for k in range(len(x))]
    seconds = (time.perf_counter() - started) / len(goals)
    result = evaluate_grasps(EvalInput(objects, cases), EvalConfig(protocols=config.protocols, workers=config.workers,
                                                                   progress=config.progress),
                             out=out, renders=config.renders, title=f"{method.name}, {goals[0].cloud} clouds")
    timing.write_text(json.dumps({"seconds_per_goal": seconds, "settings": judging_settings(config)}))
    return result.summary["all"], seconds


def judged_methods(plans: list[VariantPlan], config: AblationConfig, out: Path, hand) -> list[tuple[str, str, Any]]:
    """(folder name, report label, a factory of the GraspMethod) of everything judged, in report order."""
    from flash_core.flow.solver import SolverConfig
    from flash_core.generator import GraspGenerator
    from flash_training.baselines.optimiser import OptimiserMethod
    from flash_training.baselines.retrieval import RetrievalBaseline
    from flash_training.grasp_methods import NetworkMethod

    solver = SolverConfig(method=config.solver, steps=config.solver_steps)

    def network(name: str, label: str, polish: bool, settle: bool = False, pool: int = 1):
        run = Path(config.full_run) if name == "full" and config.full_run is not None else out / "runs" / name
        return lambda: NetworkMethod(GraspGenerator.from_checkpoint(run / "model", solver=solver), label, polish,
                                     settle, pool)

    methods = [(p.name, p.label, network(p.name, p.label, False)) for p in plans if p.config is not None]
    methods.insert(1, ("full_polish", "FLASH (full) + polish", network("full", "FLASH (full) + polish", True)))
    methods.insert(2, ("full_settle", "FLASH (full) + settle", network("full", "FLASH (full) + settle", False, True)))
    ranked = f"FLASH (full) + settle, ranked first of {config.ranked_pool}x"  # what the grasp server answers first
    methods.insert(3, ("full_settle_ranked", ranked, network("full", ranked, False, True, config.ranked_pool)))
    methods.append(("retrieval", "nearest-neighbour retrieval",
                    lambda: RetrievalBaseline(config.data, hand.name, split="train")))
    methods.append(("optimiser", "geometry-only optimiser (given the mesh)",
                    lambda: OptimiserMethod(hand, *builder_settings(config.data))))
    return methods


def builder_settings(data: str):
    """(SynthesisConfig, ProcessingConfig) the data set was built with (the optimiser baseline runs as the builder
    did); the current defaults where the manifest's no longer read as today's classes."""
    from flash_training.data.processing import ProcessingConfig
    from flash_training.data.storage import DatasetReader
    from flash_training.data.synthesis import SynthesisConfig
    from flash_training.train.config import config_from_dict

    stored = DatasetReader(data).manifest["config"]
    try:
        return (config_from_dict(SynthesisConfig, stored["synthesis"]),
                config_from_dict(ProcessingConfig, stored["processing"]))
    except (KeyError, TypeError, ValueError):
        return SynthesisConfig(), ProcessingConfig()


def run_ablations(config: AblationConfig, log=print) -> Path:
    """Train what is missing, judge what is not judged yet, write <out>/report.md; returns its path."""
    from flash_core.hands import make_hand
    from flash_training.ablation_report import write_report

    out, data = Path(config.out), Path(config.data)
    base = base_config(config)
    plans = plan_variants(base, data, out)
    for plan in plans:
        if plan.config is not None and plan.name != "full" and plan.name not in config.variants:
            plan.config, plan.reason = None, "not selected (--variants)"
    for plan in plans:
        if plan.config is None:
            continue
        if plan.name == "full" and config.full_run is not None:
            plan.train_seconds = given_run_seconds(Path(config.full_run))
            continue
        train_variant(plan, out / "runs" / plan.name, log)
    hand = make_hand(base.model.hand)
    goals, objects = make_goals(config, hand.name)
    results = []
    for name, label, factory in judged_methods(plans, config, out, hand):
        if config.methods is not None and name not in config.methods:
            continue
        method, result = functools.cache(factory), MethodResult(name, label)  # made once, when first needed
        for cloud in config.clouds:
            if cloud not in goals:
                continue
            if name == "optimiser" and cloud != "full":
                result.note = "given the mesh: its grasps do not depend on the cloud (partial = full)"
                continue
            result.summaries[cloud], result.seconds_per_goal[cloud] = judge(
                method, goals[cloud], objects, config, out / "eval" / name / cloud, log)
        results.append(result)
    return write_report(out, config, base, plans, results, {c: len(g) for c, g in goals.items()})


# ----------------------------------------------------------------------------------------------------------------
# command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="FLASH-Drive data set folder")
    parser.add_argument("--out", required=True, help="output folder (runs, evaluations, report.md)")
    parser.add_argument("--budget-steps", type=int, help="training steps of every variant (required without "
                        "--full-run; with it, the run's own steps)")
    parser.add_argument("--full-run", help="a finished `flash train` run to judge as the full model")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="variants to train and judge (default: all; the full model is always judged)")
    parser.add_argument("--config", help="YAML overrides of the full model's training config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one training config value of the full model (repeatable)")
    parser.add_argument("--split", default="unseen_object", help="split the goals come from")
    parser.add_argument("--goals", type=int, default=24, help="goals (object + prompt) judged")
    parser.add_argument("--grasps", type=int, default=4, help="grasps per goal and method")
    parser.add_argument("--solver", default="euler", help="the networks' ODE solver")
    parser.add_argument("--solver-steps", type=int, default=16)
    parser.add_argument("--protocol", choices=("lift", "force", "both"), default="both")
    parser.add_argument("--workers", type=int, default=1, help="simulation processes")
    parser.add_argument("--renders", type=int, default=2, help="failed grasps drawn per method, cloud and protocol")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clouds", nargs="+", choices=CLOUDS, default=list(DEFAULT_CLOUDS),
                        help="goal clouds judged: full, one camera's view, that view completed by symmetry")
    parser.add_argument("--methods", nargs="+", help="judge only these methods (e.g. full_settle retrieval; "
                        "default: all)")
    parser.add_argument("--ranked-pool", type=int, default=4, help="full_settle_ranked judges the --grasps "
                        "ranked first of this many times as many (default: 4)")
    parser.add_argument("--turn-objects", action="store_true", help="turn each goal's object about the up axis by "
                        "a seeded random angle (the data's objects stand as their sources built them)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> None:
    from flash_training.train.allocator import keep_freed_memory

    keep_freed_memory()
    try:
        if args.budget_steps is None and args.full_run is None:
            raise ValueError("give --budget-steps (or --full-run, whose steps every variant then gets)")
        budget = args.budget_steps if args.budget_steps is not None else full_run_config(args.full_run).loop.steps
        config = AblationConfig(
            data=args.data, out=args.out, budget_steps=budget, train_config=args.config,
            overrides=tuple(args.overrides), split=args.split, goals=args.goals, grasps_per_goal=args.grasps,
            solver=args.solver, solver_steps=args.solver_steps,
            protocols=("lift", "force") if args.protocol == "both" else (args.protocol,), workers=args.workers,
            renders=args.renders, seed=args.seed, progress=not args.no_progress, variants=tuple(args.variants),
            full_run=args.full_run, clouds=tuple(args.clouds),
            methods=None if args.methods is None else tuple(args.methods), ranked_pool=args.ranked_pool,
            turn_objects=args.turn_objects)
        report = run_ablations(config)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        sys.exit(f"flash ablations: {exc}")
    print(f"wrote {report}")
