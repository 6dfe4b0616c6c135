"""`flash dataset build`: objects -> processed meshes -> grasps per hand -> contacts and text -> shards.

The work is a list of objects, each with one unit per hand. A unit synthesises candidate grasps (targeted
round-robin at the object's parts, so "the handle" gets grasps), optimises them, measures them, keeps the
first `grasps_per_hand` that pass the acceptance test, labels their contacts and writes them with statistics
(before/after metrics and rejection reasons) that the report reads. Finished units survive a crash; a resumed
build skips them (storage.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from flash_core.data.contacts import AcceptanceConfig, finger_parts, rejection_reasons
from flash_core.data.grasp_energy import measure_grasps
from flash_core.data.llm_text import LlmTextBackend, LlmTextConfig, LlmTextError
from flash_core.data.objects import make_object_source
from flash_core.data.processing import MeshProcessingError, ProcessedObject, ProcessingConfig, process_object
from flash_core.data.refine import OptimizerConfig
from flash_core.data.semantic import Dinov2Features, SemanticConfig, semantic_point_features
from flash_core.data.splits import SplitConfig, object_split
from flash_core.data.storage import DatasetWriter, GraspBatch, StoredObject
from flash_core.data.synthesis import SynthesisConfig, synthesize_grasps
from flash_core.data.text import ContactSummary, describe_grasp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # key of flash_core.data.objects.OBJECT_SOURCES
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
    shard_size: int = 2048
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        """Everything that decides the data (device and endpoint keys excluded), for the manifest."""
        config = asdict(self)
        if config["semantic"]:
            config["semantic"].pop("device")
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

PRESETS: dict[str, BuildConfig] = {
    # Seconds: for tests and a first look.
    "tiny": BuildConfig(
        sources=(SourceSpec("procedural", {"count_per_category": 1, "categories": ("mug", "hammer")}),),
        grasps_per_hand=2,
        candidates_per_hand=8,
        processing=ProcessingConfig(num_points=512, oversample=4, sdf_resolution=24),
        synthesis=SynthesisConfig(
            optimizer=OptimizerConfig(
                steps=40, polish_steps=5, lr_translation_m=3e-3, lr_rotation=1.5e-2, lr_joints_rad=4.5e-2
            )
        ),
        semantic=SemanticConfig(views=2, image_size=56),
        splits=SplitConfig(unseen_category_fraction=0.0, unseen_object_fraction=0.0, seen_grasp_fraction=0.25),
    ),
    # < 30 min on a 2-core CPU: 36 part-labelled procedural objects + 8 YCB objects, 20 grasps per hand.
    "mini": BuildConfig(
        sources=(
            SourceSpec("procedural", {"count_per_category": 3}),
            SourceSpec("ycb", {"include": YCB_GRASPABLE}, limit=8),
        ),
        grasps_per_hand=20,
        candidates_per_hand=56,
        shard_size=400,
        synthesis=SynthesisConfig(
            optimizer=OptimizerConfig(steps=80, lr_translation_m=3e-3, lr_rotation=1.5e-2, lr_joints_rad=4.5e-2)
        ),
    ),
    # GPU machines: more objects, more candidates, longer optimisation, denser SDF grids.
    "full": BuildConfig(
        sources=(SourceSpec("procedural", {"count_per_category": 40}), SourceSpec("ycb")),
        grasps_per_hand=100,
        candidates_per_hand=256,
        processing=ProcessingConfig(sdf_resolution=64),
        synthesis=SynthesisConfig(optimizer=OptimizerConfig(steps=400, polish_steps=50)),
        shard_size=16384,
    ),
}


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


class DatasetBuilder:
    def __init__(self, out: str | Path, config: BuildConfig, device: str = "cpu", resume: bool = False) -> None:
        from flash_core.hands import make_hand

        out = Path(out)
        if (out / "manifest.json").exists() and not resume:
            raise FileExistsError(
                f"{out} already holds a data set; pass --resume to continue it or choose another folder"
            )
        self.config = config
        self.device = torch.device(device)
        self.writer = DatasetWriter(out, config.to_json(), config.splits, config.shard_size)
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

    def object_names(self) -> list[tuple[Any, str]]:
        work = []
        for spec in self.config.sources:
            source = make_object_source(spec.kind, **spec.options)
            work += [(source, name) for name in source.names()[: spec.limit]]
        return work

    def run(self) -> None:
        work = self.object_names()
        progress = tqdm(total=len(work) * len(self.hands), desc="grasp units (object x hand)", unit="unit")
        for source, name in work:
            object_id = f"{source.name}/{name}"
            todo = [h for h in self.hands if not self.writer.is_done(object_id, h)]
            progress.update(len(self.hands) - len(todo))
            if not todo or self.writer.is_skipped(object_id):
                progress.update(len(todo) if todo else 0)
                continue
            progress.set_postfix_str(object_id)
            obj = self._prepare(source, name, object_id)
            for hand_name in todo:
                if obj is not None:
                    self._build_unit(obj, hand_name)
                progress.update(1)
        progress.close()
        self.writer.close()

    def _prepare(self, source, name: str, object_id: str) -> ProcessedObject | None:
        try:
            asset = source.load(name)
            obj = process_object(asset, replace(self.config.processing, seed=self.config.seed))
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
                    meta={
                        "scale": obj.scale,
                        "notes": obj.notes,
                        "watertight": bool(obj.asset.mesh.is_watertight),
                        "sdf_max_error_m": obj.sdf_grid.max_error_m,
                    },
                )
            )
        return obj

    def _build_unit(self, obj: ProcessedObject, hand_name: str) -> None:
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
        x_start, x = result.initial, result.optimized
        before = measure_grasps(hand, x_start, obj.sdf)
        after = measure_grasps(hand, x, obj.sdf)
        reasons = rejection_reasons(after, hand.finger_names, config.acceptance)
        parts = finger_parts(after, obj.sdf, obj.asset.face_parts, config.acceptance.contact_threshold_m)
        # Prefer passing grasps with the least penetration, so the kept set is the cleanest available.
        passing = [i for i, r in enumerate(reasons) if r is None]
        passing.sort(key=lambda i: float(after.max_penetration_m[i]))
        keep = passing[: config.grasps_per_hand]
        texts, llm_failures = [], 0
        for i in keep:
            summary = ContactSummary(
                obj.asset.category,
                tuple(hand.finger_names),
                tuple(obj.asset.part_names[p] if p >= 0 else None for p in parts[i]),
            )
            key = f"{object_id}|{hand_name}|{i}"
            if self.llm is not None:
                try:
                    texts.append(self.llm.describe(summary, obj.asset.part_names))
                    continue
                except LlmTextError as exc:
                    llm_failures += 1
                    log.warning("LLM text failed for %s, using templates: %s", key, exc)
            texts.append(describe_grasp(summary, key))
        as_np = lambda t: t.detach().cpu().numpy()  # noqa: E731
        num_fingers = len(hand.finger_names)
        stats = {
            "category": obj.asset.category,
            "candidates": len(reasons),
            "kept": len(keep),
            "passing": len(passing),
            "rejected": dict(Counter(r for r in reasons if r is not None)),
            "surplus_passing_not_kept": len(passing) - len(keep),
            "before": {
                "max_penetration_m": _rounded(as_np(before.max_penetration_m)),
                "contact_distance_m": _rounded(as_np(before.finger_distance_m).mean(1)),
            },
            "after": {
                "max_penetration_m": _rounded(as_np(after.max_penetration_m)),
                "contact_distance_m": _rounded(as_np(after.finger_distance_m).mean(1)),
            },
            "llm_failures": llm_failures,
        }
        batch = GraspBatch(
            object_id=object_id,
            hand=hand_name,
            x=as_np(x[keep]).astype(np.float32).reshape(len(keep), hand.pose_dim),
            finger_part=parts[keep].reshape(len(keep), num_fingers),
            finger_distance_m=as_np(after.finger_distance_m[keep]).reshape(len(keep), num_fingers),
            penetration_m=as_np(after.max_penetration_m[keep]).reshape(len(keep)),
            text=texts,
        )
        self.writer.add_unit(batch, stats)


def build_dataset(out: str | Path, config: BuildConfig, device: str = "cpu", resume: bool = False) -> Path:
    """Build (or resume) a data set in `out` and write its report; returns the report's path."""
    from flash_core.data.report import write_report

    DatasetBuilder(out, config, device=device, resume=resume).run()
    return write_report(out)
