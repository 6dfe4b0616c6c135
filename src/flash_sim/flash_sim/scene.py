"""What a simulated table-top scene holds, read from YAML: the table, the objects, the depth and overview cameras.

    scene = load_scene("tabletop")                  # a built-in (flash_sim/scenes/<name>.yaml) or a .yaml path
    scene = with_object(scene, "bottle")            # swap the first object: a procedural category or a mesh path
    mesh = object_mesh(scene.objects[0], seed=0)    # trimesh, metres, in the object's own frame

Frames: `world` is the floor under the robot; `base_link` stands on the table top at z = `table.height_m`
(the planner's assumption: the table top is z = 0 of base_link). Object placements and camera poses are written
in base_link. Built-in scenes: `BUILT_IN_SCENES` (the file names in flash_sim/scenes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from flash_core.sim.depth_camera import CameraIntrinsics, look_at

SCENES = resources.files("flash_sim") / "scenes"


def _vector(value, size: int, what: str) -> tuple[float, ...]:
    array = np.asarray(value, dtype=float)
    if array.shape != (size,) or not np.isfinite(array).all():
        raise ValueError(f"{what} must be {size} finite numbers, got {value!r}")
    return tuple(float(v) for v in array)


@dataclass(frozen=True)
class TableConfig:
    """A box whose top is z = 0 of base_link, `height_m` above the floor."""

    height_m: float = 0.72
    size_m: tuple[float, float] = (1.0, 1.4)
    centre_m: tuple[float, float] = (0.35, 0.0)  # of the top, base_link frame
    thickness_m: float = 0.04

    def __post_init__(self) -> None:
        if not (self.height_m > 0 and self.thickness_m > 0 and min(self.size_m) > 0):
            raise ValueError(f"table sizes must be positive, got {self}")


@dataclass(frozen=True)
class ObjectConfig:
    """One free object. Its source is a procedural category (`flash_training.data.objects.procedural`, shaped by
    the world seed) or a mesh file (`mesh`, units times `scale` = metres); exactly one of the two."""

    name: str
    procedural: str | None = None
    mesh: str | None = None
    scale: float = 1.0
    xy_m: tuple[float, float] = (0.5, 0.0)  # base_link frame; the object rests on the table
    rpy_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # extrinsic x, y, z rotation of the mesh frame

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"object name must be non-empty without '/', got {self.name!r}")
        if (self.procedural is None) == (self.mesh is None):
            raise ValueError(f"object {self.name!r}: give exactly one of `procedural` and `mesh`")
        if self.procedural is not None:
            from flash_training.data.objects.procedural import CATEGORIES

            if self.procedural not in CATEGORIES:
                raise ValueError(f"object {self.name!r}: unknown procedural category {self.procedural!r}; "
                                 f"known: {sorted(CATEGORIES)}")
        if not self.scale > 0:
            raise ValueError(f"object {self.name!r}: scale must be positive, got {self.scale}")
        _vector(self.xy_m, 2, f"object {self.name!r} xy_m")
        _vector(self.rpy_deg, 3, f"object {self.name!r} rpy_deg")

    def rotation(self) -> np.ndarray:
        """(3, 3) rotation of the mesh frame in base_link (before it is lifted onto the table)."""
        roll, pitch, yaw = np.radians(self.rpy_deg)
        cx, sx, cy, sy, cz, sz = math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch), math.cos(yaw), \
            math.sin(yaw)
        rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        return rz @ ry @ rx


@dataclass(frozen=True)
class CameraConfig:
    """A fixed pinhole camera looking from `position_m` at `target_m` (base_link frame), square pixels."""

    position_m: tuple[float, float, float]
    target_m: tuple[float, float, float]
    width: int = 320
    height: int = 240
    fovy_deg: float = 42.6

    def __post_init__(self) -> None:
        _vector(self.position_m, 3, "camera position_m")
        _vector(self.target_m, 3, "camera target_m")
        self.intrinsics()  # validates size and field of view

    def intrinsics(self) -> CameraIntrinsics:
        return CameraIntrinsics.from_fovy(self.width, self.height, self.fovy_deg)

    def pose(self) -> np.ndarray:
        """(4, 4) base_link <- optical frame (OpenCV: z forward, x right, y down)."""
        return look_at(np.asarray(self.position_m), np.asarray(self.target_m))


@dataclass(frozen=True)
class SceneConfig:
    objects: tuple[ObjectConfig, ...]
    depth_camera: CameraConfig
    overview_camera: CameraConfig
    table: TableConfig = field(default_factory=TableConfig)
    name: str = "scene"

    def __post_init__(self) -> None:
        names = [o.name for o in self.objects]
        if not names:
            raise ValueError(f"scene {self.name!r} has no object")
        if len(set(names)) != len(names):
            raise ValueError(f"scene {self.name!r}: object names must be unique, got {names}")


BUILT_IN_SCENES: tuple[str, ...] = tuple(
    sorted(p.name.removesuffix(".yaml") for p in SCENES.iterdir() if p.name.endswith(".yaml"))
)


def _parse(raw: dict, name: str) -> SceneConfig:
    known = {"table", "objects", "depth_camera", "overview_camera"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"scene {name!r}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    try:
        return SceneConfig(
            objects=tuple(ObjectConfig(**o) for o in raw.get("objects") or ()),
            depth_camera=CameraConfig(**raw["depth_camera"]),
            overview_camera=CameraConfig(**raw["overview_camera"]),
            table=TableConfig(**raw.get("table", {})),
            name=name,
        )
    except (TypeError, KeyError) as exc:
        raise ValueError(f"scene {name!r} is malformed: {exc}") from exc


def load_scene(name_or_path: str | Path) -> SceneConfig:
    """A built-in scene by name (see BUILT_IN_SCENES) or a scene YAML file by path."""
    import yaml

    text = str(name_or_path)
    if text in BUILT_IN_SCENES:
        raw, name = yaml.safe_load(SCENES.joinpath(f"{text}.yaml").read_text()), text
    elif text.endswith((".yaml", ".yml")):
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"no scene file at {path}")
        raw, name = yaml.safe_load(path.read_text()), path.stem
    else:
        raise ValueError(f"unknown scene {text!r}: built-in scenes are {list(BUILT_IN_SCENES)}, or give a .yaml path")
    if not isinstance(raw, dict):
        raise ValueError(f"scene {text!r} must be a YAML mapping")
    return _parse(raw, name)


def with_object(scene: SceneConfig, source: str, scale: float = 1.0) -> SceneConfig:
    """The scene with its first object taken from `source`: a procedural category ("bottle") or a mesh file path
    (its units times `scale` = metres). The placement stays; the object is named after the source."""
    if Path(source).suffix:
        first = replace(scene.objects[0], name=Path(source).stem, procedural=None, mesh=source, scale=scale)
    else:
        first = replace(scene.objects[0], name=source, procedural=source, mesh=None)
    return replace(scene, objects=(first, *scene.objects[1:]))


def object_mesh(config: ObjectConfig, seed: int):
    """The object's trimesh (metres, its own frame): the procedural category's variation for `seed`, or the file."""
    if config.procedural is not None:
        from flash_training.data.objects.procedural import ProceduralSource

        source = ProceduralSource(count_per_category=1, seed=seed, categories=(config.procedural,))
        return source.load(f"{config.procedural}_000").mesh
    from flash_training.data.objects.user_mesh import load_user_mesh

    return load_user_mesh(config.mesh, config.scale).mesh
