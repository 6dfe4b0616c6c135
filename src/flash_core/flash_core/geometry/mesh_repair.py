"""Make meshes water-tight so their signed distance has a meaningful inside.

Steps, each only if the previous one did not close the mesh:
1. clean-up: merge duplicate vertices, drop degenerate/duplicate faces and unused vertices;
2. hole filling (trimesh fans): exact for small planar holes such as a missing box side;
3. voxel remeshing: mark the voxels the surface passes through (`voxel_resolution` along the
   longest side; warp distance queries), fill the enclosed volume (scipy), run marching cubes
   (scikit-image) on the distances signed by that fill, then Taubin smoothing (a Laplacian filter
   that does not shrink). Always water-tight; an open sheet (a cup without thickness) becomes a
   solid about one voxel thick. Scale and position are kept (world coordinates throughout); the
   surface moves by a fraction of a voxel, which the report measures (one-sided distances).
   Surfaces that end up enclosed (a wall inside a handle it meets) disappear, as in any union.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from scipy import ndimage

from flash_core.geometry.mesh import check_mesh
from flash_core.geometry.sdf import MeshSDF
from flash_core.utils.require import require_package


@dataclass(frozen=True)
class RepairConfig:
    voxel_resolution: int = 128  # voxels along the longest side when remeshing
    smoothing_iterations: int = 10  # Taubin iterations after marching cubes (0: keep the voxel steps)
    hausdorff_samples: int = 4096  # surface samples per mesh for the Hausdorff estimate
    force_remesh: bool = False  # remesh even when clean-up or hole filling already closed the mesh

    def __post_init__(self):
        if self.voxel_resolution < 8:
            raise ValueError(f"voxel_resolution must be at least 8, got {self.voxel_resolution}")
        if self.smoothing_iterations < 0 or self.hausdorff_samples < 1:
            raise ValueError("smoothing_iterations must be >= 0 and hausdorff_samples >= 1")


@dataclass(frozen=True)
class RepairReport:
    """What `repair_mesh` did and what came out."""

    steps: tuple[str, ...]  # human-readable, in order
    was_watertight: bool
    is_watertight: bool
    faces_before: int
    faces_after: int
    input_to_output_m: float  # farthest input surface sample from the output: how far the surface moved
    output_to_input_m: float  # farthest output sample from the input: includes patches over holes
    voxel_size_m: float | None  # remeshing pitch, None if no remeshing was needed


def repair_mesh(mesh: trimesh.Trimesh, config: RepairConfig | None = None) -> tuple[trimesh.Trimesh, RepairReport]:
    """Return a water-tight copy of `mesh` and a report (default `RepairConfig()`); the input is not modified."""
    config = config or RepairConfig()
    check_mesh(mesh)
    steps: list[str] = []
    work = mesh.copy()
    faces_before = len(work.faces)
    if work.is_watertight and not config.force_remesh:
        # Already closed: zero-area slivers do no harm there, and removing them would open the surface.
        return _finish(mesh, work, steps, faces_before, None, config)
    work.merge_vertices()
    work.update_faces(work.nondegenerate_faces())
    work.update_faces(work.unique_faces())
    work.remove_unreferenced_vertices()
    if len(work.faces) < faces_before:
        steps.append(f"removed {faces_before - len(work.faces)} degenerate or duplicate faces")
    if len(work.faces) == 0:
        raise ValueError("nothing is left of the mesh after removing degenerate faces")

    if not work.is_watertight and not config.force_remesh:
        faces_before_filling = len(work.faces)
        trimesh.repair.fill_holes(work)
        if len(work.faces) > faces_before_filling:
            steps.append(f"filled holes with {len(work.faces) - faces_before_filling} faces")

    pitch = None
    if config.force_remesh or not work.is_watertight:
        pitch = float(work.extents.max()) / config.voxel_resolution
        work = _voxel_remesh(work, pitch, config.smoothing_iterations)
        steps.append(f"voxel remesh at {pitch * 1e3:.2f} mm, {config.smoothing_iterations} Taubin iterations")
    return _finish(mesh, work, steps, faces_before, pitch, config)


def _finish(mesh, work, steps, faces_before, pitch, config) -> tuple[trimesh.Trimesh, RepairReport]:
    """Orient the faces outward and measure what changed."""
    trimesh.repair.fix_normals(work)
    if work.is_watertight and work.volume < 0:  # fix_normals orients outward; guard the inside-out case
        work.invert()
        steps.append("inverted inside-out faces")

    report = RepairReport(
        steps=tuple(steps),
        was_watertight=bool(mesh.is_watertight),
        is_watertight=bool(work.is_watertight),
        faces_before=faces_before,
        faces_after=len(work.faces),
        input_to_output_m=surface_distance(mesh, work, config.hausdorff_samples) if steps else 0.0,
        output_to_input_m=surface_distance(work, mesh, config.hausdorff_samples) if steps else 0.0,
        voxel_size_m=pitch,
    )
    return work, report


def _voxel_remesh(mesh: trimesh.Trimesh, pitch: float, smoothing_iterations: int) -> trimesh.Trimesh:
    measure = require_package(
        "skimage.measure", feature="voxel mesh repair", install_hint="pip install scikit-image==0.26.0"
    )
    low = mesh.bounds[0] - 2 * pitch  # two empty voxels around the object so every surface closes
    counts = np.ceil((mesh.bounds[1] + 2 * pitch - low) / pitch).astype(int) + 1
    axes = [torch.arange(n, dtype=torch.float64) * pitch + low[i] for i, n in enumerate(counts)]
    nodes = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(1, -1, 3)
    # Shell: voxels whose centre lies within half a pitch of the surface. Any axis-aligned edge that
    # crosses the surface has an end that close, so the shell has no face-connected gaps and the
    # enclosed volume fills. warp's distance-limited query (~0.3 us per voxel) replaces trimesh's
    # subdivision voxeliser (14 s on a 2k-face mug) and also yields the distances used below.
    band_m = 2.0 * pitch
    distance = MeshSDF.from_trimesh(mesh, sign_method="normal").unsigned_distance(nodes, max_distance_m=band_m)
    distance = distance.clamp(max=band_m).reshape(*counts.tolist()).numpy()
    solid = ndimage.binary_fill_holes(distance <= 0.5 * pitch)
    # Signed field instead of a 0/1 occupancy: marching cubes then puts the surface near the true one
    # (box volume +0.1% at 64 voxels) rather than half a voxel outside the occupied voxels (+9%). The
    # small offset keeps solid nodes lying on the surface off the level, which would pinch the mesh.
    field = np.where(solid, -distance - 1e-3 * pitch, distance).astype(np.float32)
    vertices, faces, _, _ = measure.marching_cubes(field, level=0.0)
    remeshed = trimesh.Trimesh(vertices * pitch + low, faces, process=True)  # voxel indices -> metres
    if smoothing_iterations:
        trimesh.smoothing.filter_taubin(remeshed, iterations=smoothing_iterations)
    return remeshed


def surface_distance(source: trimesh.Trimesh, target: trimesh.Trimesh, num_samples: int = 4096, seed: int = 0) -> float:
    """One-sided Hausdorff distance (m): the farthest of `num_samples` points on `source` from `target`."""
    points = torch.as_tensor(trimesh.sample.sample_surface(source, num_samples, seed=seed)[0])[None]
    # Only the magnitude matters, so the cheap pseudo-normal sign is fine even for open meshes.
    return float(MeshSDF.from_trimesh(target, sign_method="normal")(points).abs().max())


def hausdorff_distance(a: trimesh.Trimesh, b: trimesh.Trimesh, num_samples: int = 4096, seed: int = 0) -> float:
    """Symmetric Hausdorff distance (m) between two surfaces, estimated from surface samples."""
    return max(surface_distance(a, b, num_samples, seed), surface_distance(b, a, num_samples, seed))
