"""Triangle meshes: load with clear errors, normalise, sample the surface with normals.

trimesh does the parsing and sampling; this module adds the checks, the unit-sphere transform shared
with point clouds (`flash_core.geometry.normalize.Similarity`) and farthest-point thinning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh

from flash_core.geometry.normalize import CenterMode, Similarity, normalize_points
from flash_core.geometry.sampling import farthest_point_sample

MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".gltf", ".off")


@dataclass(frozen=True)
class SurfaceSamples:
    """Points on a mesh surface with the outward normal of the face each lies on."""

    points: torch.Tensor  # (N, 3) float32, metres
    normals: torch.Tensor  # (N, 3) float32, unit
    faces: torch.Tensor  # (N,) int64 index of the face each point lies on


def check_mesh(mesh: trimesh.Trimesh, name: str = "mesh") -> None:
    """Raise ValueError unless `mesh` is a Trimesh with at least one face and finite vertices."""
    if not isinstance(mesh, trimesh.Trimesh):
        raise ValueError(f"{name} must be a trimesh.Trimesh, got {type(mesh).__name__}")
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise ValueError(f"{name} is empty: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces")
    if not np.isfinite(mesh.vertices).all():
        raise ValueError(f"{name} has NaN or infinite vertex coordinates")
    if mesh.area <= 0:
        raise ValueError(f"{name} has zero surface area (all faces degenerate)")


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Load an OBJ/STL/PLY/GLB/GLTF/OFF file as one triangle mesh (scenes are merged, transforms applied)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no mesh file at {path}")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise ValueError(f"{path}: unsupported mesh format {path.suffix!r}; use one of {', '.join(MESH_SUFFIXES)}")
    try:
        mesh = trimesh.load(path, force="mesh")
    except Exception as exc:  # trimesh raises many types (ValueError, KeyError, struct.error, ...) on bad files
        raise ValueError(f"cannot parse mesh file {path}: {exc}") from exc
    if not isinstance(mesh, trimesh.Trimesh):
        raise ValueError(f"{path} holds no triangles (trimesh returned {type(mesh).__name__})")
    check_mesh(mesh, name=str(path))
    return mesh


def open_cylinder(radius_m: float = 0.04, height_m: float = 0.1, sections: int = 64) -> trimesh.Trimesh:
    """A cylinder without its top cap, walls of zero thickness: the shape of a scanned cup with an open rim,
    the typical defect `mesh_repair` must close (used by its tests and benchmarks)."""
    cylinder = trimesh.creation.cylinder(radius=radius_m, height=height_m, sections=sections)
    cup = cylinder.copy()
    cup.update_faces(cylinder.triangles_center[:, 2] < height_m / 2 - 1e-3)
    cup.remove_unreferenced_vertices()
    return cup


def normalize_mesh(mesh: trimesh.Trimesh, center: CenterMode = "bbox") -> tuple[trimesh.Trimesh, Similarity]:
    """A copy of the mesh centred and scaled so its vertices fit the unit sphere, and the transform (B=1)."""
    check_mesh(mesh)
    vertices, transform = normalize_points(
        torch.tensor(np.array(mesh.vertices), dtype=torch.float64)[None], center=center
    )
    normalized = mesh.copy()
    normalized.vertices = vertices[0].numpy()
    return normalized, transform


def sample_surface(mesh: trimesh.Trimesh, num_points: int = 2048, oversample: int = 4, seed: int = 0) -> SurfaceSamples:
    """Area-weighted surface samples with face normals; oversample > 1 thins by farthest point sampling.

    Area weighting alone leaves clumps and gaps; drawing num_points * oversample and keeping the
    farthest-point subset spreads points evenly (thin parts keep their share). oversample=1: plain.
    """
    check_mesh(mesh)
    if num_points <= 0 or oversample < 1:
        raise ValueError(f"need num_points > 0 and oversample >= 1, got {num_points} and {oversample}")
    dense, faces = trimesh.sample.sample_surface(mesh, num_points * oversample, seed=seed)
    dense = torch.as_tensor(dense, dtype=torch.float32)
    faces = torch.as_tensor(faces, dtype=torch.int64)
    if oversample > 1:
        keep = farthest_point_sample(dense[None], num_points)[0]
        dense, faces = dense[keep], faces[keep]
    normals = torch.tensor(np.array(mesh.face_normals), dtype=torch.float32)[faces]  # trimesh caches read-only arrays
    return SurfaceSamples(points=dense, normals=normals, faces=faces)
