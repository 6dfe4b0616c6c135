"""Named solids fused into one watertight, part-labelled mesh (manifold3d booleans).

Procedural objects build their parts as solids; pybullet's random objects arrive as overlapping convex pieces.
Both go through `fuse_parts`: a boolean union removes the faces buried inside other pieces, and manifold3d
remembers which input solid every output triangle came from, which gives per-face part labels for free.
"""

from __future__ import annotations

import manifold3d as mf
import numpy as np
import trimesh

Part = tuple[str, mf.Manifold]  # (part name, closed solid in metres)


def solid_from_trimesh(mesh: trimesh.Trimesh) -> mf.Manifold:
    """A closed, consistently oriented triangle mesh as a manifold3d solid; ValueError if it is not one."""
    solid = mf.Manifold(
        mf.Mesh(vert_properties=np.asarray(mesh.vertices, np.float32), tri_verts=np.asarray(mesh.faces, np.uint32))
    )
    if solid.status() != mf.Error.NoError:
        raise ValueError(f"not a closed solid ({solid.status().name})")
    return solid


def fuse_parts(parts: list[Part]) -> tuple[trimesh.Trimesh, np.ndarray, tuple[str, ...]]:
    """Union named solids into one watertight mesh; return it with a part index per face."""
    names = tuple(dict.fromkeys(name for name, _ in parts))
    originals = [(names.index(name), solid.as_original()) for name, solid in parts]
    part_of_id = {solid.original_id(): index for index, solid in originals}
    fused = mf.Manifold.batch_boolean([solid for _, solid in originals], mf.OpType.Add)
    out = fused.to_mesh()
    face_parts = np.empty(len(out.tri_verts), dtype=np.int64)
    starts = np.asarray(out.run_index) // 3  # run_index counts triangle-vertex indices
    for run, original in enumerate(out.run_original_id):
        face_parts[starts[run] : starts[run + 1]] = part_of_id[original]
    mesh = trimesh.Trimesh(np.asarray(out.vert_properties[:, :3], np.float64), np.asarray(out.tri_verts), process=False)
    return mesh, face_parts, names
