"""`flash dataset build`: objects -> processed meshes -> grasps per hand -> contacts and text -> shards.

The work is a list of objects, each with one unit per hand. A unit synthesises candidate grasps (targeted
round-robin at the object's parts, so "the handle" gets grasps), optimises them, measures them, keeps the
first `grasps_per_hand` that pass the acceptance test, labels their contacts and writes them with statistics
(before/after metrics and rejection reasons) that the report reads. Finished units survive a crash; a resumed
build skips them (storage.py).

Imported grasps (`BuildConfig.imports`: DexGraspNet or Multi-GraspSet, see grasp_import.py) take the same path
with refinement (`refine_grasps`) in place of synthesis: every passing grasp is kept and imported text is kept
where the files give it. They are built for the hand they were made for and, where the files hold none for a
requested hand, for the hands they can be retargeted to (`RETARGET_FROM`: LEAP from Allegro, see
`flash_core.hands.retarget`): retargeted, then refined and accepted like any imported grasp.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from flash_core.hands.hand_model import HandModel
from flash_core.hands.retarget import RetargetConfig, retarget_grasps
from flash_training.assess import AcceptanceConfig, AssessedObject, GraspAssessment, assess_grasps
from flash_training.data.grasp_formats import ImportedGrasps
from flash_training.data.grasp_import import ImportedGraspSource, ImportSpec
from flash_training.data.llm_text import LlmTextBackend, LlmTextConfig, LlmTextError
from flash_training.data.objects import make_object_source
from flash_training.data.processing import MeshProcessingError, ProcessedObject, ProcessingConfig, process_object
from flash_training.data.refine import REFINE_CONFIG, OptimizerConfig, refine_grasps
from flash_training.data.semantic import Dinov2Features, SemanticConfig, semantic_point_features
from flash_training.data.splits import SplitConfig, object_split
from flash_training.data.storage import DatasetWriter, GraspBatch, StoredObject
from flash_training.data.synthesis import SynthesisConfig, synthesize_grasps
from flash_training.data.text import ContactSummary, paraphrase_grasp
from flash_training.data.views import ViewConfig, render_partial_views
from flash_training.eval.protocols import ProtocolResult

log = logging.getLogger(__name__)

REFINE_CHUNK = 256  # imported grasps refined (and retargeted) per optimiser call
# Hand -> the hand whose imported grasps are retargeted to it when the files hold none of its own.
RETARGET_FROM = {"leap": "allegro"}
# Why an imported data set yields no units for a hand.
_NO_IMPORT_REASON = {
    "leap": "the files hold neither LEAP grasps nor Allegro grasps to retarget",
    None: "the files hold no grasps for this hand, or grasps for a hand FLASH has no model of",
}


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # key of flash_training.data.objects.OBJECT_SOURCES
    options: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None  # use only the first `limit` names of the source


@dataclass(frozen=True)
class BuildConfig:
    sources: tuple[SourceSpec, ...]
    hands: tuple[str, ...] = ("leap", "allegro")
    grasps_per_hand: int = 20
    candidates_per_hand: int = 32  # synthesised per unit; the best passing ones are kept
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    acceptance: AcceptanceConfig = field(default_factory=AcceptanceConfig)
    splits: SplitConfig = field(default_factory=SplitConfig)
    semantic: SemanticConfig | None = field(default_factory=SemanticConfig)
    llm: LlmTextConfig | None = None
    views: ViewConfig | None = field(default_factory=ViewConfig)  # partial clouds stored per object
    text_paraphrases: int = 4  # wordings stored per grasp and text level
    shard_size: int = 2048
    seed: int = 0
    imports: tuple[ImportSpec, ...] = ()  # grasp data sets to import and refine (see grasp_import.py)
    refine: OptimizerConfig = REFINE_CONFIG  # refinement of imported grasps
    retarget: RetargetConfig = field(default_factory=RetargetConfig)  # imported grasps onto another hand
    keep_rejected: bool = False  # store every rejected candidate (pose, reason, measures) in the unit statistics
    # Simulated acceptance: accepted candidates are run through flash eval's protocol (b) (DexGraspBench's force
    # closure, docs/eval.md), best first, until the quota holds; only grasps that hold are kept.
    simulate: bool = False

    def to_json(self) -> dict[str, Any]:
        """Everything that decides the data (device and endpoint keys excluded), for the manifest."""
        config = asdict(self)
        if config["semantic"]:
            config["semantic"].pop("device")
        if not self.imports:  # manifests of builds without imports stay as they were (resumable)
            config.pop("imports")
            config.pop("refine")
            config.pop("retarget")
        return config


YCB_GRASPABLE = (
    "025_mug",
    "035_power_drill",
    "048_hammer",
    "006_mustard_bottle",
    "011_banana",
    "019_pitcher_base",
    "021_bleach_cleanser",
    "033_spatula",
    "044_flat_screwdriver",
    "005_tomato_soup_can",
    "013_apple",
    "024_bowl",
)

# YCB objects no hand of FLASH's size holds as a rigid body: a chain, flat plates and lids, a 17 mm die, marbles,
# a box of blocks, a peg board, an airplane assembled from parts.
YCB_NOT_GRASPABLE = (
    "028_skillet_lid",
    "029_plate",
    "059_chain",
    "062_dice",
    "063-b_marbles",
    "070-a_colored_wood_blocks",
    "071_nine_hole_peg_test",
    "072-a_toy_airplane",
)
# Held out whole in the default preset: two part-labelled procedural categories (their part-naming prompts meet
# new shapes) and YCB tools and foods the training set has no category of.
DEFAULT_UNSEEN_CATEGORIES = (
    "screwdriver",
    "pan",
    "power drill",
    "adjustable wrench",
    "scissors",
    "padlock",
    "banana",
    "toy airplane",
)

PRESETS: dict[str, BuildConfig] = {
    # Seconds: for tests and a first look.
    "tiny": BuildConfig(
        sources=(SourceSpec("procedural", {"count_per_category": 1, "categories": ("mug", "hammer")}),),
        grasps_per_hand=2,
        candidates_per_hand=8,
        processing=ProcessingConfig(num_points=512, oversample=4, sdf_resolution=24),
        synthesis=SynthesisConfig(oversample=4),
        semantic=SemanticConfig(views=2, image_size=56),
        views=ViewConfig(views=2),
        splits=SplitConfig(unseen_category_fraction=0.0, unseen_object_fraction=0.0, seen_grasp_fraction=0.25),
    ),
    # 36 part-labelled procedural objects + 8 YCB + 6 pybullet random objects, up to 16 grasps per hand that
    # hold in simulation: 19 min 39 s for LEAP alone with `--ray 2` on 2 shared cores (docs/benchmarks.md).
    "mini": BuildConfig(
        sources=(
            SourceSpec("procedural", {"count_per_category": 3}),
            SourceSpec("ycb", {"include": YCB_GRASPABLE}, limit=8),
            SourceSpec("pybullet_random", limit=6),
        ),
        grasps_per_hand=20,
        candidates_per_hand=16,
        shard_size=400,
        synthesis=SynthesisConfig(oversample=16),
        simulate=True,
    ),
    # 250 objects in 60 categories (120 part-labelled procedural objects, 70 YCB, 60 pybullet random), both
    # hands, up to 16 grasps per hand that hold in simulation, 4 wordings per text level, 8 partial views per
    # object; splits with 29 unseen-category and ~30 unseen objects. Measured: 1 h 03 min for LEAP alone with
    # `--candidates 8 --ray 2` on 2 shared cores; as written (both hands, 16 candidates) ~103 min predicted on 2
    # cores alone, above the 45 min target (docs/benchmarks.md, "FLASH-Drive build").
    "default": BuildConfig(
        sources=(
            SourceSpec("procedural", {"count_per_category": 10}),
            SourceSpec("ycb", {"exclude": YCB_NOT_GRASPABLE}),
            SourceSpec("pybullet_random", limit=60),
        ),
        grasps_per_hand=20,
        candidates_per_hand=16,
        shard_size=2000,
        synthesis=SynthesisConfig(oversample=16),
        simulate=True,
        splits=SplitConfig(unseen_category_fraction=0.0, unseen_categories=DEFAULT_UNSEEN_CATEGORIES),
    ),
    # GPU machines: more objects, more candidates, longer optimisation, denser SDF grids.
    "full": BuildConfig(
        sources=(
            SourceSpec("procedural", {"count_per_category": 40}),
            SourceSpec("ycb"),
            SourceSpec("pybullet_random"),
        ),
        grasps_per_hand=100,
        candidates_per_hand=256,
        processing=ProcessingConfig(sdf_resolution=64),
        synthesis=SynthesisConfig(oversample=16),
        shard_size=16384,
    ),
}


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


def _assessment_stats(assessment: GraspAssessment) -> dict[str, list[float]]:
    """Per candidate, what the report plots: penetration, self-penetration, mean finger distance (m)."""
    return {
        "max_penetration_m": _rounded(assessment.max_penetration_m),
        "self_penetration_m": _rounded(assessment.self_penetration_m),
        "contact_distance_m": _rounded(assessment.finger_distance_m.mean(1)),
    }


def _with_given_text(generated: dict[str, list[str]], given: str | dict[str, str] | None) -> dict[str, list[str]]:
    """Given text (imported or from an LLM) becomes the main wording at its level(s), the generated paraphrases
    follow; a bare string is mid-level text."""
    if given is None:
        return generated
    given = {"mid": given} if isinstance(given, str) else given
    return {level: ([given[level]] if level in given else []) + wordings for level, wordings in generated.items()}


class DatasetBuilder:
    def __init__(
        self,
        out: str | Path,
        config: BuildConfig,
        device: str = "cpu",
        resume: bool = False,
        part: tuple[int, int] | None = None,
    ) -> None:
        """part = (i, n): build only part i of the objects split round-robin into n parts (see sharding.py)."""
        from flash_core.hands import make_hand

        if part is not None and not 0 <= part[0] < part[1]:
            raise ValueError(f"part {part[0]} of {part[1]}: need 0 <= i < n")
        self.part = part
        out = Path(out)
        if (out / "manifest.json").exists() and not resume:
            raise FileExistsError(
                f"{out} already holds a data set; pass --resume to continue it or choose another folder"
            )
        self.config = config
        self.device = torch.device(device)
        self.writer = DatasetWriter(out, config.to_json(), config.splits, config.shard_size, part)
        self.hands = {name: make_hand(name, device=self.device) for name in config.hands}
        for name, hand in self.hands.items():
            self.writer.register_hand(name, hand.finger_names, hand.joint_names)
        self.encoder = None
        if config.semantic is not None:
            self.encoder = Dinov2Features(replace(config.semantic, device=device))
            if not self.encoder.trained:
                log.warning(
                    "semantic features come from an UNTRAINED DINOv2 stand-in; give semantic.model_path for real ones"
                )
        self.llm = LlmTextBackend(config.llm) if config.llm is not None else None
        self._retarget_sources: dict[str, HandModel] = {}  # source hands of retargeting not built themselves

    def object_names(self) -> list[tuple[Any, str]]:
        work = []
        for spec in self.config.sources:
            source = make_object_source(spec.kind, **spec.options)
            work += [(source, name) for name in source.names()[: spec.limit]]
        return work

    def imported_names(self) -> list[tuple[ImportedGraspSource, str, list[str]]]:
        """(source, object name, hands to build) per imported object; unusable hands and bad record lines are
        reported here (the hands in the log, the lines in the manifest's skipped objects)."""
        from flash_core.hands import known_hands

        work, unbuilt = [], set()
        for spec in self.config.imports:
            source = ImportedGraspSource(spec)
            for error in source.errors:
                where = Path(error.split(": ", 1)[0]).name
                self.writer.record_skip(f"{source.name}/{where}", error)
            for name in source.names():
                available = source.hands(name)
                available += [h for h, s in RETARGET_FROM.items() if s in available and h not in available]
                unbuilt.update((source.name, h) for h in set(self.hands) - set(available))
                # Grasps of a known hand this build does not make (--hands) are left out without a warning.
                unbuilt.update((source.name, h) for h in set(available) - set(self.hands) - set(known_hands()))
                for hand in sorted(set(available) - set(known_hands())):  # in the report's skipped list
                    self.writer.record_skip(
                        f"{source.name}/{name}|{hand}", f"grasps for hand '{hand}', which FLASH has no model of"
                    )
                work.append((source, name, [h for h in self.hands if h in available]))
        for kind, hand in sorted(unbuilt):
            log.warning("%s: no %s units: %s", kind, hand, _NO_IMPORT_REASON.get(hand, _NO_IMPORT_REASON[None]))
        return work

    def run(self) -> None:
        synthesised, imported = self.object_names(), self.imported_names()
        if self.part is not None:  # objects dealt round-robin: every part gets a share of each source and category
            synthesised, imported = synthesised[self.part[0] :: self.part[1]], imported[self.part[0] :: self.part[1]]
        total = len(synthesised) * len(self.hands) + sum(len(hands) for _, _, hands in imported)
        progress = tqdm(total=total, desc="grasp units (object x hand)", unit="unit")
        for source, name in synthesised:
            object_id = f"{source.name}/{name}"
            todo = self._todo(object_id, list(self.hands), progress)
            if todo:
                obj = self._prepare(object_id, lambda: source.load(name), self.config.processing)  # noqa: B023
                self._run_units(obj, todo, self._build_unit, progress)
        for source, name, hands in imported:
            object_id = f"{source.name}/{name}"
            todo = self._todo(object_id, hands, progress)
            if not todo:
                continue
            try:
                loaded = source.load(name)
            except (ValueError, OSError) as exc:  # a bad or missing file: named in the message, build goes on
                self.writer.record_skip(object_id, str(exc))
                progress.update(len(todo))
                continue
            # Imported grasps fix the object's size and frame: no rescaling; union-of-pieces meshes (DexGraspNet's
            # convex decompositions) are remeshed into one surface so inner faces do not hide penetration.
            repair = replace(self.config.processing.repair, force_remesh=loaded.asset.mesh.body_count > 1)
            processing = replace(self.config.processing, min_extent_m=0.0, max_extent_m=math.inf, repair=repair)
            obj = self._prepare(object_id, lambda: loaded.asset, processing)  # noqa: B023
            self._run_units(obj, todo, lambda o, h: self._build_imported_unit(o, h, loaded.grasps), progress)  # noqa: B023
        progress.close()
        self.writer.close()

    def _todo(self, object_id: str, hands: list[str], progress) -> list[str]:
        """The hands of `object_id` still to build; finished and skipped ones are counted as progress."""
        todo = [h for h in hands if not self.writer.is_done(object_id, h)]
        progress.update(len(hands) - len(todo))
        if todo and self.writer.is_skipped(object_id):
            progress.update(len(todo))
            return []
        progress.set_postfix_str(object_id)
        return todo

    def _run_units(self, obj: ProcessedObject | None, hands: list[str], build, progress) -> None:
        for hand_name in hands:
            if obj is not None:
                build(obj, hand_name)
            progress.update(1)

    def _prepare(self, object_id: str, load, processing: ProcessingConfig) -> ProcessedObject | None:
        """Load (`load()` -> ObjectAsset) and process an object and store it once; None, recorded as skipped,
        when it cannot be used."""
        try:
            obj = process_object(load(), replace(processing, seed=self.config.seed))
        except (MeshProcessingError, ValueError, OSError) as exc:
            self.writer.record_skip(object_id, str(exc))
            return None
        if not self.writer.has_object(object_id):
            semantic = None
            if self.encoder is not None:
                semantic = semantic_point_features(obj.asset.mesh, obj.points, self.config.semantic, self.encoder)
            self.writer.add_object(
                StoredObject(
                    object_id=object_id,
                    category=obj.asset.category,
                    part_names=obj.asset.part_names,
                    source=obj.asset.source,
                    licence=obj.asset.licence,
                    split=object_split(object_id, obj.asset.category, self.config.splits),
                    points=obj.points,
                    normals=obj.normals,
                    point_parts=obj.point_parts,
                    sdf=obj.sdf_grid.values.numpy(),
                    sdf_bounds_m=obj.sdf_grid.bounds_m.numpy(),
                    semantic=semantic,
                    views=self._views(obj, object_id, processing),
                    meta={
                        "scale": obj.scale,
                        "notes": obj.notes,
                        "watertight": bool(obj.asset.mesh.is_watertight),
                        "sdf_max_error_m": obj.sdf_grid.max_error_m,
                    },
                )
            )
        return obj

    def _views(self, obj: ProcessedObject, object_id: str, processing: ProcessingConfig):
        """The object's stored partial clouds (None when the build makes none), seeded per object."""
        if self.config.views is None:
            return None
        return render_partial_views(
            obj.asset.mesh,
            processing.num_points,
            self.config.views,
            seed=[self.config.views.seed, *object_id.encode()],
            face_parts=obj.asset.face_parts,
            full_points=obj.points,
            sdf=obj.sdf,
        )

    def _build_unit(self, obj: ProcessedObject, hand_name: str) -> None:
        """Synthesise candidates for one (object, hand) unit, then measure, select and store them."""
        hand, config = self.hands[hand_name], self.config
        object_id = obj.asset.object_id
        # One seed per unit: a resumed build synthesises exactly what an uninterrupted one would have.
        seed = int(
            np.random.default_rng([config.seed, config.hands.index(hand_name)] + list(object_id.encode())).integers(
                2**31
            )
        )
        # Candidates are shared round-robin among the parts so every part gets grasps aimed at it.
        part_ids = [p for p in range(len(obj.asset.part_names)) if (obj.point_parts == p).any()]
        masks = None
        if len(part_ids) > 1:
            masks = np.stack(
                [obj.point_parts == part_ids[i % len(part_ids)] for i in range(config.candidates_per_hand)]
            )
        result = synthesize_grasps(
            hand,
            obj.sdf,
            obj.points,
            obj.normals,
            config.candidates_per_hand,
            config.synthesis,
            seed=seed,
            target_masks=masks,
            grid=obj.sdf_grid,
        )
        self._store_unit(obj, hand_name, result.initial, result.optimized, config.grasps_per_hand)

    def _build_imported_unit(self, obj: ProcessedObject, hand_name: str, grasps: dict[str, ImportedGrasps]) -> None:
        """Refine one object's imported grasps for one hand (instead of synthesising), then store the passing ones.
        `grasps`: the object's imported grasps per hand; without `hand_name`'s own, its RETARGET_FROM hand's are
        retargeted first (the unit's statistics then hold the fingertip residuals)."""
        hand = self.hands[hand_name]
        extra: dict[str, Any] = {}
        if hand_name in grasps:
            imported = grasps[hand_name]
            x_start = torch.as_tensor(imported.x, dtype=hand.dtype, device=hand.device)
        else:
            imported = grasps[RETARGET_FROM[hand_name]]
            x_start, residual_mm = self._retarget(RETARGET_FROM[hand_name], hand_name, imported.x)
            extra["retargeted"] = {"from": RETARGET_FROM[hand_name], "fingertip_error_mm": _rounded(residual_mm)}
        # Chunks bound the memory of the hand point clouds; every grasp is refined on its own anyway.
        x = torch.cat(
            [
                refine_grasps(hand, chunk, obj.sdf, obj.sdf_grid, self.config.refine)
                for chunk in x_start.split(REFINE_CHUNK)
            ]
        )
        extra["imported"] = {"source": obj.asset.source, "grasps": len(x), "with_text": imported.text is not None}
        self._store_unit(obj, hand_name, x_start, x, None, imported.text, extra)

    def _retarget(self, source_name: str, target_name: str, x: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Imported grasps x (B, 25) of `source_name` -> (B, 25) `target_name` poses and (B,) mean fingertip
        residuals (mm). The source hand's model is built here when the build does not make its units."""
        from flash_core.hands import make_hand

        target = self.hands[target_name]
        source = self.hands.get(source_name) or self._retarget_sources.get(source_name)
        if source is None:
            source = self._retarget_sources[source_name] = make_hand(
                source_name, dtype=target.dtype, device=target.device
            )
        x_source = torch.as_tensor(x, dtype=source.dtype, device=source.device)
        chunks = x_source.split(REFINE_CHUNK)
        results = [retarget_grasps(source, target, chunk, self.config.retarget) for chunk in chunks]
        residual_mm = torch.cat([r.mean_fingertip_error_mm for r in results]).cpu().numpy()
        return torch.cat([r.x for r in results]), residual_mm

    def _store_unit(
        self,
        obj: ProcessedObject,
        hand_name: str,
        x_start: torch.Tensor,
        x: torch.Tensor,
        quota: int | None,
        imported_text: list[str | dict[str, str] | None] | None = None,
        extra_stats: dict[str, Any] | None = None,
    ) -> None:
        """The tail shared by synthesised and imported units. x_start, x (B, 25): candidates before and after
        optimisation. Measures both, keeps up to `quota` passing grasps (None: all), least penetration first,
        labels contacts, writes text (imported text kept where given) and the unit's statistics."""
        hand, config = self.hands[hand_name], self.config
        object_id = obj.asset.object_id
        target = AssessedObject.from_processed(obj)
        before = assess_grasps(hand, x_start.detach(), target, config.acceptance)
        after = assess_grasps(hand, x.detach(), target, config.acceptance)
        reasons, parts = after.reasons, after.finger_parts
        # Prefer passing grasps with the least penetration, so the kept set is the cleanest available.
        passing = [i for i, r in enumerate(reasons) if r is None]
        # Best first: the least friction needed to resist protocol (b)'s pushes, then the least penetration.
        passing.sort(key=lambda i: (float(after.required_friction[i]), float(after.max_penetration_m[i])))
        simulated: dict[int, ProtocolResult] = {}
        if config.simulate:
            keep, simulated = self._simulate(obj, hand_name, x, after, passing, quota)
        else:
            keep = passing[:quota]
        texts, llm_failures = [], 0
        for i in keep:
            summary = ContactSummary(
                obj.asset.category,
                tuple(hand.finger_names),
                tuple(obj.asset.part_names[p] if p >= 0 else None for p in parts[i]),
                tuple(obj.asset.part_names),
            )
            key = f"{object_id}|{hand_name}|{i}"
            text = paraphrase_grasp(summary, key, config.text_paraphrases)
            if self.llm is not None:
                try:
                    text = _with_given_text(text, self.llm.describe(summary, obj.asset.part_names))
                except LlmTextError as exc:
                    llm_failures += 1
                    log.warning("LLM text failed for %s, using templates: %s", key, exc)
            texts.append(_with_given_text(text, imported_text[i] if imported_text is not None else None))
        as_np = lambda t: t.detach().cpu().numpy()  # noqa: E731
        num_fingers = len(hand.finger_names)
        stats = {
            "category": obj.asset.category,
            "candidates": len(reasons),
            "kept": len(keep),
            "passing": len(passing),
            "passing_before": int(before.accepted.sum()),
            "rejected": dict(Counter(r for r in reasons if r is not None)),
            "surplus_passing_not_kept": len(passing) - len(keep) - sum(not r.success for r in simulated.values()),
            "before": _assessment_stats(before),
            "after": _assessment_stats(after),
            "llm_failures": llm_failures,
            **(extra_stats or {}),
        }
        if config.simulate:
            stats["simulated"] = {str(i): {"held": r.success, "reason": r.reason} for i, r in simulated.items()}
        if config.keep_rejected:
            stats["rejected_candidates"] = [
                {
                    "x": _rounded(as_np(x[i])),
                    "reason": reason,
                    "max_penetration_m": round(float(after.max_penetration_m[i]), 6),
                    "self_penetration_m": round(float(after.self_penetration_m[i]), 6),
                    "finger_distance_m": _rounded(after.finger_distance_m[i]),
                }
                for i, reason in enumerate(reasons)
                if reason is not None
            ]
        batch = GraspBatch(
            object_id=object_id,
            hand=hand_name,
            x=as_np(x[keep]).astype(np.float32).reshape(len(keep), hand.pose_dim),
            finger_part=parts[keep].reshape(len(keep), num_fingers),
            finger_distance_m=after.finger_distance_m[keep].reshape(len(keep), num_fingers),
            penetration_m=after.max_penetration_m[keep].reshape(len(keep)),
            text=texts,
        )
        self.writer.add_unit(batch, stats)


    def _simulate(self, obj: ProcessedObject, hand_name: str, x: torch.Tensor, assessment: GraspAssessment,
                  passing: list[int], quota: int | None) -> tuple[list[int], dict[int, ProtocolResult]]:
        """Protocol (b) on the passing candidates in order until `quota` hold (all of them when None): the kept
        candidates and every simulated one's result. Runs in this process, one scene per unit."""
        from flash_training.eval.convex import convex_pieces
        from flash_training.eval.protocols import run_force_closure
        from flash_training.eval.runner import approach_directions, grasp_pose
        from flash_training.eval.scene import GraspScene

        if not passing:
            return [], {}
        mesh = obj.asset.mesh
        scene = GraspScene(hand_name, mesh, convex_pieces(mesh))
        approach = approach_directions({hand_name})[hand_name]
        up = np.array([0.0, 0.0, 1.0])  # protocol (b) has no gravity: the up direction is not used
        keep, results = [], {}
        for i in passing:
            if quota is not None and len(keep) >= quota:
                break
            pose = grasp_pose(x[i].detach().cpu().numpy().astype(np.float64), up, approach)
            depths = (float(assessment.max_penetration_m[i]), float(assessment.self_penetration_m[i]))
            results[i] = run_force_closure(scene, pose, depths_m=depths)
            if results[i].success:
                keep.append(i)
        return keep, results


def build_dataset(
    out: str | Path, config: BuildConfig, device: str = "cpu", resume: bool = False, part: tuple[int, int] | None = None
) -> Path:
    """Build (or resume) a data set, or part (i, n) of it, in `out` and write its report; returns the report's path."""
    from flash_training.data.import_report import write_build_report

    DatasetBuilder(out, config, device=device, resume=resume, part=part).run()
    return write_build_report(out)
