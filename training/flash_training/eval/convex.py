"""Convex decomposition of object meshes for collision in MuJoCo (CoACD), cached on disk by mesh hash.

MuJoCo collides a mesh geom as its convex hull, so a mug given as one mesh would be a solid lump with no room
for fingers in its handle. CoACD (Wei et al., SIGGRAPH 2022, the decomposition DexGraspNet and DexGraspBench
use) splits the water-tight surface into nearly convex pieces whose hulls follow the shape within
`threshold` (CoACD's concavity, a fraction of the mesh size). Results are stored under the FLASH cache
(`<cache>/convex/<sha256>.npz`), keyed by the vertices, faces and settings, so each mesh is decomposed once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass

import numpy as np
import trimesh

from flash_core.utils.cache import cache_dir
from flash_core.utils.require import require_package


@dataclass(frozen=True)
class ConvexConfig:
    """CoACD settings (its defaults, which DexGraspBench's object preparation keeps) and the seed."""

    threshold: float = 0.05  # concavity allowed per piece (CoACD default)
    max_convex_hull: int = -1  # no cap on the number of pieces
    preprocess_resolution: int = 50  # manifold pre-processing grid (CoACD default)
    max_ch_vertex: int = 256  # vertices per piece (CoACD default; MuJoCo hulls stay cheap)
    resolution: int = 2000  # surface samples for the concavity metric (CoACD default)
    mcts_iterations: int = 150  # the cutting-plane search (CoACD defaults), where the time goes
    mcts_nodes: int = 20
    mcts_max_depth: int = 3
    seed: int = 0


@dataclass(frozen=True)
class ConvexPieces:
    """Pieces of one mesh, each a (V_i, 3) float64 vertex array in the mesh frame (MuJoCo takes their hulls)."""

    vertices: tuple[np.ndarray, ...]


def mesh_key(mesh: trimesh.Trimesh, config: ConvexConfig) -> str:
    """sha256 of the vertices, faces and settings."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    digest.update(json.dumps(asdict(config), sort_keys=True).encode())
    return digest.hexdigest()


def convex_pieces(mesh: trimesh.Trimesh, config: ConvexConfig | None = None) -> ConvexPieces:
    """The mesh's convex decomposition, from the disk cache or computed with CoACD (then cached)."""
    config = config or ConvexConfig()
    path = cache_dir("convex") / f"{mesh_key(mesh, config)}.npz"
    if path.exists():
        with np.load(path) as stored:
            return ConvexPieces(tuple(stored[f"piece_{i}"] for i in range(len(stored.files))))
    pieces = decompose(mesh, config).vertices
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")  # parallel workers may race: rename is atomic
    np.savez(tmp, **{f"piece_{i}": p for i, p in enumerate(pieces)})
    os.replace(tmp, path)
    return ConvexPieces(pieces)


def decompose(mesh: trimesh.Trimesh, config: ConvexConfig) -> ConvexPieces:
    """CoACD on the mesh, uncached (convex_pieces caches)."""
    coacd = require_package("coacd", feature="convex decomposition for grasp simulation",
                            install_hint="pip install coacd==1.0.14")
    coacd.set_log_level("error")
    parts = coacd.run_coacd(
        coacd.Mesh(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)),
        threshold=config.threshold, max_convex_hull=config.max_convex_hull,
        preprocess_resolution=config.preprocess_resolution, max_ch_vertex=config.max_ch_vertex,
        resolution=config.resolution, mcts_iterations=config.mcts_iterations, mcts_nodes=config.mcts_nodes,
        mcts_max_depth=config.mcts_max_depth, seed=config.seed,
    )
    pieces = tuple(np.asarray(vertices, np.float64) for vertices, _ in parts if len(vertices) >= 4)
    if not pieces:
        raise ValueError("CoACD returned no piece with volume: the mesh is flat or empty")
    return ConvexPieces(pieces)
