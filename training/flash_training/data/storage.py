"""The FLASH-Drive on-disk format (see docs/dataset_format.md): versioned, sharded, memory-mappable, resumable.

A data set is a folder:

    manifest.json                 format name + version, build config, hands, objects, finished shards
    objects/<slug>/*.npy          per object: points, normals, point_parts, sdf, [semantic], [view_* partial clouds]
    grasps/shard_<k:05d>/*.npy    per shard: x, hand, object, heldout, finger_part, finger_distance_m,
                                  penetration_m; text.json holds each grasp's paraphrases at three levels

Writes are crash safe: a shard is written into a temporary folder and renamed into place, then the manifest is
replaced atomically. The unit of work is a (object, hand) pair and it lives in exactly one shard, so a resumed
build skips finished units and can neither lose nor duplicate a grasp.

A build split by objects (`--shard i/n`, or Ray) writes one such folder per part, marked with its part in the
manifest; `merge_parts` joins complete sets of parts into one data set.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flash_training.data.splits import SplitConfig, is_heldout_grasp
from flash_training.data.text import TEXT_LEVELS

if TYPE_CHECKING:
    from flash_training.data.views import PartialViews

FORMAT_NAME = "flash-drive"
FORMAT_VERSION = 2  # 2: partial-cloud views per object, paraphrase lists per text level, build parts
MAX_FINGERS = 5  # finger arrays are padded to this width; unused columns hold -1 / NaN
_TMP_PREFIX = ".partial-"


@dataclass
class StoredObject:
    """One processed object. Coordinates are in the object's normalised frame (metres, centred)."""

    object_id: str
    category: str
    part_names: tuple[str, ...]
    source: str
    licence: str
    split: str
    points: np.ndarray  # (N, 3) float32, surface samples
    normals: np.ndarray  # (N, 3) float32, outward unit normals
    point_parts: np.ndarray  # (N,) int16, index into part_names
    sdf: np.ndarray  # (R, R, R) float32, signed distance (negative inside), indexed [x, y, z]
    sdf_bounds_m: np.ndarray  # (2, 3) float32, min and max corner of the grid
    semantic: np.ndarray | None = None  # (N, C) float16 per-point image features, optional
    views: PartialViews | None = None  # K single-view partial clouds of N points each, optional
    meta: dict[str, Any] = field(default_factory=dict)  # scale, repairs, ... (JSON-able)

    def arrays(self) -> dict[str, np.ndarray]:
        n = len(self.points)
        shapes = {"points": (n, 3), "normals": (n, 3), "point_parts": (n,), "sdf_bounds_m": (2, 3)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{self.object_id}: {name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.sdf.ndim != 3:
            raise ValueError(f"{self.object_id}: sdf must be a 3-D grid, got shape {self.sdf.shape}")
        out = {
            "points": self.points.astype(np.float32),
            "normals": self.normals.astype(np.float32),
            "point_parts": self.point_parts.astype(np.int16),
            "sdf": self.sdf.astype(np.float32),
            "sdf_bounds_m": self.sdf_bounds_m.astype(np.float32),
        }
        if self.semantic is not None:
            out["semantic"] = self.semantic.astype(np.float16)
        if self.views is not None:
            out.update(self._view_arrays(n))
        return out

    def _view_arrays(self, n: int) -> dict[str, np.ndarray]:
        v = self.views
        k = len(v.points)
        shapes = {
            "points": (k, n, 3),
            "normals": (k, n, 3),
            "point_parts": (k, n),
            "nearest": (k, n),
            "cam_to_object": (k, 4, 4),
            "visible_points": (k,),
        }
        for name, shape in shapes.items():
            if getattr(v, name).shape != shape:
                raise ValueError(
                    f"{self.object_id}: view {name} has shape {getattr(v, name).shape}, expected {shape} "
                    f"(views hold as many points as the full cloud)"
                )
        if (v.nearest < 0).any() or (v.nearest >= n).any():
            raise ValueError(f"{self.object_id}: view nearest must index the {n} points of the full cloud")
        return {
            "view_points": v.points.astype(np.float32),
            "view_normals": v.normals.astype(np.float32),
            "view_point_parts": v.point_parts.astype(np.int16),
            "view_nearest": v.nearest.astype(np.int32),
            "view_cam_to_object": v.cam_to_object.astype(np.float32),
            "view_visible_points": v.visible_points.astype(np.int32),
        }


@dataclass
class GraspBatch:
    """The kept grasps of one (object, hand) unit."""

    object_id: str
    hand: str
    x: np.ndarray  # (G, 25) float32: translation (3, m), rotation 6D (6), joints (16, rad)
    finger_part: np.ndarray  # (G, F) int, part index each finger touches, -1 for no contact
    finger_distance_m: np.ndarray  # (G, F) float, distance of each finger's closest point to the surface
    penetration_m: np.ndarray  # (G,) float, deepest hand point inside the object
    text: list[dict[str, list[str]]]  # G entries: "low", "mid", "high" -> paraphrases (the first is the main one)

    def __post_init__(self) -> None:
        g = len(self.x)
        if self.x.shape != (g, 25):
            raise ValueError(f"grasp x must have shape (G, 25), got {self.x.shape}")
        if self.finger_part.shape[0] != g or self.finger_distance_m.shape != self.finger_part.shape:
            raise ValueError("finger_part and finger_distance_m must both have shape (G, F)")
        if self.finger_part.shape[1] > MAX_FINGERS:
            raise ValueError(f"at most {MAX_FINGERS} fingers are stored, got {self.finger_part.shape[1]}")
        if self.penetration_m.shape != (g,) or len(self.text) != g:
            raise ValueError("penetration_m and text need one entry per grasp")
        if not np.isfinite(self.x).all():
            raise ValueError(f"{self.object_id}/{self.hand}: grasp x holds NaN or inf")
        for entry in self.text:
            if set(entry) != set(TEXT_LEVELS) or not all(
                isinstance(p, list) and p and all(isinstance(t, str) and t for t in p) for p in entry.values()
            ):
                raise ValueError(
                    f"{self.object_id}/{self.hand}: each grasp's text maps {TEXT_LEVELS} to non-empty lists of "
                    f"non-empty strings, got {entry!r}"
                )

    @property
    def unit_key(self) -> str:
        return unit_key(self.object_id, self.hand)


def unit_key(object_id: str, hand: str) -> str:
    return f"{object_id}|{hand}"


def _slug(object_id: str) -> str:
    return object_id.replace("/", "__")


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(_TMP_PREFIX + path.name)
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def _fresh_tmp(folder: Path) -> Path:
    """The temporary twin of `folder`, emptied. Folders are only written when the manifest does not list them, so
    a leftover twin, or the folder itself, comes from a run interrupted before its manifest was saved."""
    tmp = folder.with_name(_TMP_PREFIX + folder.name)
    for stale in (tmp, folder):
        if stale.exists():
            shutil.rmtree(stale)
    return tmp


def _write_folder_atomic(folder: Path, arrays: dict[str, np.ndarray], extra_json: dict[str, Any] | None = None) -> None:
    tmp = _fresh_tmp(folder)
    tmp.mkdir(parents=True)
    for name, array in arrays.items():
        np.save(tmp / f"{name}.npy", array)
    for name, payload in (extra_json or {}).items():
        (tmp / name).write_text(json.dumps(payload))
    os.replace(tmp, folder)


class DatasetWriter:
    """Appends objects and grasp units to a data set folder; reopening the folder resumes it.

    `config` is the build configuration. Resuming with a different one raises, because the result would
    mix two data sets under one manifest. `part` = (i, n) marks the folder as part i of a build split by objects
    into n parts (`merge_parts` joins them).
    """

    def __init__(
        self,
        root: str | Path,
        config: dict[str, Any],
        splits: SplitConfig,
        shard_size: int = 2048,
        part: tuple[int, int] | None = None,
    ) -> None:
        self.root = Path(root)
        self.splits = splits
        self.shard_size = shard_size
        manifest_path = self.root / "manifest.json"
        stored_part = None if part is None else {"index": part[0], "count": part[1]}
        if manifest_path.exists():
            self.manifest = json.loads(manifest_path.read_text())
            _check_format(self.manifest, manifest_path)
            if self.manifest["config"] != json.loads(json.dumps(config)):  # compare as stored (tuples become lists)
                raise ValueError(
                    f"{self.root} was built with another configuration; resume with the same one or use a new folder"
                )
            if self.manifest.get("part") != stored_part:
                raise ValueError(
                    f"{self.root} holds build part {self.manifest.get('part')}, not {stored_part}; resume the same part"
                )
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            self.manifest = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "config": config,
                "hands": {},
                "objects": [],
                "skipped_objects": {},
                "shards": [],
                **({"part": stored_part} if part is not None else {}),
            }
            self._save_manifest()
        self._object_index = {o["object_id"]: i for i, o in enumerate(self.manifest["objects"])}
        self._done_units = {u for shard in self.manifest["shards"] for u in shard["units"]}
        self._pending: list[GraspBatch] = []
        self._pending_stats: dict[str, Any] = {}

    # -- objects -----------------------------------------------------------------------------------------
    def has_object(self, object_id: str) -> bool:
        return object_id in self._object_index

    def add_object(self, obj: StoredObject) -> int:
        if obj.object_id in self._object_index:
            raise ValueError(f"object {obj.object_id} is already stored")
        path = f"objects/{_slug(obj.object_id)}"
        _write_folder_atomic(self.root / path, obj.arrays())
        entry = {
            "object_id": obj.object_id,
            "category": obj.category,
            "part_names": list(obj.part_names),
            "source": obj.source,
            "licence": obj.licence,
            "split": obj.split,
            "path": path,
            "semantic": obj.semantic is not None,
            "views": 0 if obj.views is None else len(obj.views.points),
            "sdf_resolution": int(obj.sdf.shape[0]),
            "meta": obj.meta,
        }
        self._object_index[obj.object_id] = len(self.manifest["objects"])
        self.manifest["objects"].append(entry)
        self._save_manifest()
        return self._object_index[obj.object_id]

    def record_skip(self, object_id: str, reason: str) -> None:
        """Remember that an object cannot be used and why (the report lists these; a resume does not retry)."""
        self.manifest["skipped_objects"][object_id] = reason
        self._save_manifest()

    def is_skipped(self, object_id: str) -> bool:
        return object_id in self.manifest["skipped_objects"]

    def object_split(self, object_id: str) -> str:
        return self.manifest["objects"][self._object_index[object_id]]["split"]

    def register_hand(self, hand: str, finger_names: list[str], joint_names: list[str]) -> None:
        entry = {"finger_names": list(finger_names), "joint_names": list(joint_names)}
        known = self.manifest["hands"].get(hand)
        if known is not None and known != entry:
            raise ValueError(f"hand {hand} is stored with other fingers/joints: {known}")
        if known is None:
            self.manifest["hands"][hand] = entry
            self._save_manifest()

    # -- grasps ------------------------------------------------------------------------------------------
    def is_done(self, object_id: str, hand: str) -> bool:
        key = unit_key(object_id, hand)
        return key in self._done_units or any(b.unit_key == key for b in self._pending)

    def add_unit(self, batch: GraspBatch, stats: dict[str, Any]) -> None:
        """Queue a unit's kept grasps (possibly none) with its statistics; writes a shard when enough queued."""
        if batch.object_id not in self._object_index:
            raise KeyError(f"store object {batch.object_id} before its grasps")
        if batch.hand not in self.manifest["hands"]:
            raise KeyError(f"register hand {batch.hand} before its grasps")
        if self.is_done(batch.object_id, batch.hand):
            raise ValueError(f"unit {batch.unit_key} is already stored")
        self._pending.append(batch)
        self._pending_stats[batch.unit_key] = stats
        if sum(len(b.x) for b in self._pending) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        hands = list(self.manifest["hands"])
        rows = [(b, i) for b in self._pending for i in range(len(b.x))]
        g = len(rows)
        finger_part = np.full((g, MAX_FINGERS), -1, np.int16)
        finger_distance = np.full((g, MAX_FINGERS), np.nan, np.float32)
        start = 0
        for b in self._pending:
            f = b.finger_part.shape[1]
            finger_part[start : start + len(b.x), :f] = b.finger_part
            finger_distance[start : start + len(b.x), :f] = b.finger_distance_m
            start += len(b.x)
        train = {b.unit_key: self.object_split(b.object_id) == "train" for b in self._pending}
        arrays = {
            "x": np.concatenate([b.x for b in self._pending]).astype(np.float32).reshape(g, 25),
            "hand": np.array([hands.index(b.hand) for b, _ in rows], np.int8),
            "object": np.array([self._object_index[b.object_id] for b, _ in rows], np.int32),
            "heldout": np.array(
                [train[b.unit_key] and is_heldout_grasp(b.unit_key, i, self.splits) for b, i in rows], bool
            ),
            "finger_part": finger_part,
            "finger_distance_m": finger_distance,
            "penetration_m": np.concatenate([b.penetration_m for b in self._pending]).astype(np.float32).reshape(g),
        }
        text = [b.text[i] for b, i in rows]
        name = f"shard_{len(self.manifest['shards']):05d}"
        _write_folder_atomic(self.root / "grasps" / name, arrays, {"text.json": text})
        units = [b.unit_key for b in self._pending]
        self.manifest["shards"].append(
            {"path": f"grasps/{name}", "count": g, "units": units, "unit_stats": self._pending_stats}
        )
        self._save_manifest()
        self._done_units.update(units)
        self._pending, self._pending_stats = [], {}

    def close(self) -> None:
        self.flush()

    def _save_manifest(self) -> None:
        _write_json_atomic(self.root / "manifest.json", self.manifest)


def _check_format(manifest: dict[str, Any], path: Path) -> None:
    if manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a FLASH-Drive manifest (format={manifest.get('format')!r})")
    if manifest.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {manifest.get('version')}, this code reads version {FORMAT_VERSION}"
        )


class DatasetReader:
    """Read-only, memory-mapped view of a data set folder: objects by index, grasps as concatenated columns."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.exists():
            raise FileNotFoundError(
                f"{self.root} holds no manifest.json: not a FLASH-Drive data set (or the build never started)"
            )
        self.manifest = json.loads(path.read_text())
        _check_format(self.manifest, path)
        self.hands: list[str] = list(self.manifest["hands"])
        self.objects: list[dict[str, Any]] = self.manifest["objects"]
        shards = self.manifest["shards"]
        columns = ("x", "hand", "object", "heldout", "finger_part", "finger_distance_m", "penetration_m")
        maps = [{c: np.load(self.root / s["path"] / f"{c}.npy", mmap_mode="r") for c in columns} for s in shards]
        # Small per-grasp columns are gathered into memory; x stays per shard and memory-mapped.
        self._x_shards = [m["x"] for m in maps]
        self._shard_start = np.cumsum([0] + [s["count"] for s in shards])

        def gather(column: str, dtype, width: int | None = None) -> np.ndarray:
            if not maps:
                return np.zeros((0,) if width is None else (0, width), dtype)
            return np.concatenate([np.asarray(m[column]) for m in maps])

        self.grasp_hand = gather("hand", np.int8)
        self.grasp_object = gather("object", np.int32)
        self.grasp_heldout = gather("heldout", bool)
        self.finger_part = gather("finger_part", np.int16, MAX_FINGERS)
        self.finger_distance_m = gather("finger_distance_m", np.float32, MAX_FINGERS)
        self.penetration_m = gather("penetration_m", np.float32)
        self._text = [t for s in shards for t in json.loads((self.root / s["path"] / "text.json").read_text())]
        self._object_cache: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return int(self._shard_start[-1])

    def grasp_x(self, index: int) -> np.ndarray:
        """(25,) float32 grasp vector of grasp `index`."""
        shard = int(np.searchsorted(self._shard_start, index, side="right") - 1)
        return np.asarray(self._x_shards[shard][index - self._shard_start[shard]])

    def text(self, index: int) -> dict[str, str]:
        """The main description of grasp `index` at each level ("low", "mid", "high")."""
        return {level: paraphrases[0] for level, paraphrases in self._text[index].items()}

    def paraphrases(self, index: int) -> dict[str, list[str]]:
        """Every wording of grasp `index` at each level, the main one first."""
        return self._text[index]

    def object_arrays(self, object_index: int) -> dict[str, np.ndarray]:
        """Memory-mapped arrays of one object: points, normals, point_parts, sdf, sdf_bounds_m[, semantic]
        [, view_points, view_normals, view_point_parts, view_nearest, view_cam_to_object, view_visible_points]."""
        if object_index not in self._object_cache:
            folder = self.root / self.objects[object_index]["path"]
            self._object_cache[object_index] = {p.stem: np.load(p, mmap_mode="r") for p in folder.glob("*.npy")}
        return self._object_cache[object_index]

    def unit_stats(self) -> dict[str, Any]:
        return {k: v for s in self.manifest["shards"] for k, v in s["unit_stats"].items()}

    def grasp_split(self) -> np.ndarray:
        """(G,) split name of every grasp: train, seen, unseen_object or unseen_category."""
        object_split = np.array([o["split"] for o in self.objects] or [""], dtype=object)[self.grasp_object]
        return np.where((object_split == "train") & self.grasp_heldout, "seen", object_split).astype(str)


def merge_parts(parts: list[str | Path], out: str | Path) -> Path:
    """Join the parts of a build split by objects (each written with `DatasetWriter(part=(i, n))`) into one data set
    in `out`; returns `out`. All n parts must be there, finished and built with one configuration.

    Object folders are copied as they are; grasp shards are copied with their object and hand indices renumbered
    for the joined manifest, which is written last: a merge interrupted before it can simply run again.
    """
    out = Path(out)
    if (out / "manifest.json").exists():
        raise FileExistsError(f"{out} already holds a data set; merge into a new folder")
    manifests = []
    for root in parts:
        path = Path(root) / "manifest.json"
        if not path.exists():
            raise FileNotFoundError(f"{root} holds no manifest.json: not a build part (or the part never started)")
        manifest = json.loads(path.read_text())
        _check_format(manifest, path)
        if "part" not in manifest:
            raise ValueError(f"{root} is a whole data set, not a build part")
        manifests.append((Path(root), manifest))
    manifests.sort(key=lambda m: m[1]["part"]["index"])
    counts = {m["part"]["count"] for _, m in manifests}
    indices = [m["part"]["index"] for _, m in manifests]
    if len(counts) != 1 or indices != list(range(counts.pop())):
        sizes = sorted({m["part"]["count"] for _, m in manifests})
        raise ValueError(f"got parts {indices} of builds split into {sizes}: need every part of one split, once each")
    config = manifests[0][1]["config"]
    for root, manifest in manifests[1:]:
        if manifest["config"] != config:
            raise ValueError(f"{root} was built with another configuration than {manifests[0][0]}")

    merged = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": config, "hands": {}, "objects": [],
              "skipped_objects": {}, "shards": []}
    out.mkdir(parents=True, exist_ok=True)
    for root, manifest in manifests:
        for hand, entry in manifest["hands"].items():
            if merged["hands"].setdefault(hand, entry) != entry:
                raise ValueError(f"{root} stores hand {hand} with other fingers/joints")
        hand_map = np.array([list(merged["hands"]).index(h) for h in manifest["hands"]] or [0], np.int8)
        object_map = np.arange(len(manifest["objects"]), dtype=np.int32) + len(merged["objects"])
        for entry in manifest["objects"]:
            if any(o["object_id"] == entry["object_id"] for o in merged["objects"]):
                raise ValueError(f"object {entry['object_id']} is in more than one part")
            _copy_folder_atomic(root / entry["path"], out / entry["path"])
            merged["objects"].append(entry)
        merged["skipped_objects"].update(manifest["skipped_objects"])
        for shard in manifest["shards"]:
            name = f"grasps/shard_{len(merged['shards']):05d}"
            source = root / shard["path"]
            arrays = {p.stem: np.load(p) for p in source.glob("*.npy")}
            arrays["hand"], arrays["object"] = hand_map[arrays["hand"]], object_map[arrays["object"]]
            text = json.loads((source / "text.json").read_text())
            _write_folder_atomic(out / name, arrays, {"text.json": text})
            merged["shards"].append({**shard, "path": name})
    _write_json_atomic(out / "manifest.json", merged)
    return out


def _copy_folder_atomic(source: Path, target: Path) -> None:
    tmp = _fresh_tmp(target)
    shutil.copytree(source, tmp)
    os.replace(tmp, target)
