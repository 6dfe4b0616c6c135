"""pybullet's 1000 procedurally generated objects (`pybullet_data/random_urdfs`, zlib licence).

Each `NNN/NNN.urdf` names one OBJ mesh with a scale (0.015: the OBJ is in centimetre-like units) and an
origin; the OBJ holds convex pieces (mostly 4-7, up to 100) that touch or overlap. The pieces are fused by a
boolean union into one watertight surface (no faces buried inside other pieces, which would put "surface"
points inside the object).
The objects are abstract blobs: category "random", one "body" part.

The files come from the hash-pinned pybullet wheel (flash_core.assets source "pybullet_random"); pybullet itself
is never installed. They are fetched on first use when `flash assets fetch` has not fetched them yet.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from flash_training.data.objects.base import ObjectAsset, single_part
from flash_training.data.objects.solids import fuse_parts, solid_from_trimesh

LICENCE = "zlib (Bullet Physics, pybullet_data random_urdfs), via the pybullet==3.2.7 wheel"
CATEGORY = "random"
# Neighbouring pieces touch with 0-0.01 mm gaps (rounding in the OBJ), which a union keeps as separate shells
# with facing walls inside the object; growing every piece by 0.2 mm (far below the 2 mm quality bar) makes
# them overlap so the union fuses them.
GROW_M = 2e-4
MIN_BODY_FRACTION = 0.01  # separate bodies smaller than this share of the volume are dropped as fragments


@dataclass(frozen=True)
class UrdfMesh:
    """The mesh one URDF link draws: file, per-axis scale and the origin transform of the geometry."""

    path: Path
    scale: np.ndarray  # (3,)
    origin: np.ndarray  # (4, 4) link frame <- mesh frame


def read_urdf_mesh(urdf: Path) -> UrdfMesh:
    """The first collision mesh of the URDF's links (the first visual one when none has a collision mesh);
    ValueError naming the file and the problem for an unreadable URDF, a missing mesh element or file."""
    try:
        robot = ET.parse(urdf).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{urdf}: not readable as URDF ({exc})") from exc
    for kind in ("collision", "visual"):
        element = robot.find(f"link/{kind}")
        mesh = element.find("geometry/mesh") if element is not None else None
        if mesh is not None and mesh.get("filename"):
            break
    else:
        raise ValueError(f"{urdf}: no link with a collision or visual <mesh filename=...>")
    path = urdf.parent / mesh.get("filename")
    if not path.is_file():
        raise ValueError(f"{urdf}: mesh file {path.name} is missing")
    try:
        scale = np.array([float(v) for v in mesh.get("scale", "1 1 1").split()])
        origin = element.find("origin")
        xyz = [float(v) for v in (origin.get("xyz", "0 0 0") if origin is not None else "0 0 0").split()]
        rpy = [float(v) for v in (origin.get("rpy", "0 0 0") if origin is not None else "0 0 0").split()]
    except ValueError as exc:
        raise ValueError(f"{urdf}: bad number in scale or origin ({exc})") from exc
    if scale.shape != (3,) or not np.isfinite(scale).all() or (scale <= 0).any():
        raise ValueError(f"{urdf}: mesh scale must be three positive numbers, got {mesh.get('scale')!r}")
    if len(xyz) != 3 or len(rpy) != 3:
        raise ValueError(f"{urdf}: origin xyz and rpy must hold three numbers each, got {xyz} and {rpy}")
    # URDF rpy: roll, pitch, yaw about the fixed x, y, z axes.
    transform = trimesh.transformations.euler_matrix(*rpy, axes="sxyz")
    transform[:3, 3] = xyz
    return UrdfMesh(path, scale, transform)


def load_fused(spec: UrdfMesh) -> tuple[trimesh.Trimesh, list[str]]:
    """The scaled, placed mesh with its convex pieces fused into one surface, and notes on what was done.

    Raises ValueError for a mesh without triangles or with NaN/infinite vertices. A piece that is not a closed
    solid cannot enter the union: then the pieces stay as they are and the water-tight repair of mesh
    processing deals with them (noted).
    """
    mesh = trimesh.load(spec.path, force="mesh", process=False)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{spec.path.name} holds no triangles")
    if not np.isfinite(mesh.vertices).all():
        raise ValueError(f"{spec.path.name} has NaN or infinite vertex coordinates")
    mesh.apply_scale(spec.scale)
    mesh.apply_transform(spec.origin)
    pieces = mesh.split(only_watertight=False, repair=False)  # as they are: open ones go to the repair below
    try:
        solids = [solid_from_trimesh(_grown(piece, GROW_M)) for piece in pieces]
    except ValueError as exc:
        return mesh, [f"{len(pieces)} pieces not fused, one is {exc}: left to the water-tight repair"]
    fused, _, _ = fuse_parts([("body", solid) for solid in solids])
    if len(fused.faces) == 0:
        raise ValueError(f"{spec.path.name}: the union of its {len(pieces)} pieces is empty")
    notes = [f"{len(pieces)} convex pieces fused into one surface"] if len(pieces) > 1 else []
    bodies = fused.split(only_watertight=False)
    if len(bodies) == 1:
        return fused, notes
    volumes = np.array([body.volume for body in bodies])
    kept = [body for body, volume in zip(bodies, volumes, strict=True) if volume >= MIN_BODY_FRACTION * volumes.sum()]
    if len(kept) > 1:
        raise ValueError(f"{spec.path.name}: falls apart into {len(kept)} separate bodies, not one object")
    notes.append(f"dropped {len(bodies) - 1} loose fragment(s) under {MIN_BODY_FRACTION:.0%} of the volume")
    return kept[0], notes


def _grown(piece: trimesh.Trimesh, grow_m: float) -> trimesh.Trimesh:
    """The piece scaled about its vertex centroid so that no vertex moves more than grow_m."""
    centre = piece.vertices.mean(0)
    radius = float(np.linalg.norm(piece.vertices - centre, axis=1).max())
    grown = piece.copy()
    grown.vertices = centre + (piece.vertices - centre) * (1.0 + grow_m / max(radius, grow_m))
    return grown


class PybulletRandomSource:
    """pybullet's random objects, named by their folder ("000" ... "999").

    root: a folder laid out like `random_urdfs` (default: the fetched pybullet data, fetched if absent);
    include: only these names.
    """

    name = "pybullet_random"
    licence = LICENCE

    def __init__(self, include: tuple[str, ...] | None = None, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else _fetched_root()
        if not self.root.is_dir():
            raise FileNotFoundError(f"pybullet random object folder {self.root} does not exist")
        available = sorted(p.name for p in self.root.iterdir() if (p / f"{p.name}.urdf").is_file())
        unknown = set(include or ()) - set(available)
        if unknown:
            raise KeyError(
                f"unknown pybullet random objects {sorted(unknown)}; available: {len(available)} in {self.root}"
            )
        self._names = [n for n in available if include is None or n in include]

    def names(self) -> list[str]:
        return list(self._names)

    def load(self, name: str) -> ObjectAsset:
        """Load one object; ValueError (naming the problem) for a broken URDF or mesh."""
        if name not in self._names:
            raise KeyError(f"'{name}' is not a pybullet random object here; {len(self._names)} available")
        mesh, notes = load_fused(read_urdf_mesh(self.root / name / f"{name}.urdf"))
        face_parts, part_names = single_part(mesh)
        return ObjectAsset(
            f"{self.name}/{name}", CATEGORY, mesh, face_parts, part_names, self.name, self.licence, notes
        )


def _fetched_root() -> Path:
    from flash_core.assets import SOURCES, AssetsMissingError, asset_dir, fetch_source

    try:
        return asset_dir("pybullet_random")
    except AssetsMissingError:
        return fetch_source(SOURCES["pybullet_random"], quiet=True)
