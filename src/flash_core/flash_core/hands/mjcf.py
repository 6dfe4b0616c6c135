"""From a hand's MJCF to what `HandModel` needs: the patched XML, a pytorch-kinematics chain and per-link shapes.

pytorch-kinematics 0.10.0 needs three fixes with MuJoCo 4 (measured in shared/notes/assets-and-kinematics.md):
its joint-type table is keyed by enum members that no longer hash like the integers `m.jnt_type` holds; a
`<freejoint/>` root cannot be parsed, so the chain is built from the root body and the wrist pose is applied by
`HandModel`; and the XML is compiled from a string, so a relative `meshdir` would resolve against the working
directory: it is made absolute here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from flash_core.hands.spec import HandSpec, read_data_text
from flash_core.utils.require import require_package


@dataclass(frozen=True)
class HandSource:
    """The MJCF text a hand is built from and where it came from ("mjcf:<path>" or "primitives")."""

    xml: str
    source: str


def require_mujoco():
    return require_package("mujoco", feature="hand models", install_hint="pip install mujoco==4.0.0")


def load_source(spec: HandSpec, primitives: bool) -> HandSource:
    """The patched MJCF of the fetched asset, or the packaged primitives-only MJCF.

    Raises flash_core.assets.AssetsMissingError when the asset is absent and `primitives` is False.
    """
    if primitives:
        return HandSource(read_data_text(spec.primitives_xml), "primitives")
    from flash_core.assets import asset_dir

    path = asset_dir(spec.asset)
    xml = path.read_text()
    for patch in spec.xml_patches:
        count = xml.count(patch.find)
        if count != 1:
            raise ValueError(f"{path}: patch target {patch.find!r} occurs {count} times, expected once "
                             "(has the asset changed?)")
        xml = xml.replace(patch.find, patch.replace)
    meshdir = re.search(r'meshdir="([^"]*)"', xml)
    if meshdir:
        absolute = (path.parent / meshdir.group(1)).resolve()
        xml = xml.replace(meshdir.group(0), f'meshdir="{absolute}"', 1)
    return HandSource(xml, f"mjcf:{path}")


def compile_model(xml: str):
    """mujoco.MjModel from MJCF text."""
    return require_mujoco().MjModel.from_xml_string(xml)


def build_chain(xml: str, root_body: str):
    """pytorch-kinematics Chain (float32, CPU) rooted at `root_body`; its root frame includes that body's
    pose in the XML, which HandModel removes."""
    mujoco = require_mujoco()
    pk_mjcf = require_package("pytorch_kinematics.mjcf", feature="hand kinematics",
                              install_hint="pip install pytorch-kinematics==0.10.0")
    # MuJoCo >= 3.12 stores joint types as plain ints that no longer match the enum keys.
    pk_mjcf.JOINT_TYPE_MAP = {
        int(mujoco.mjtJoint.mjJNT_HINGE): "revolute",
        int(mujoco.mjtJoint.mjJNT_SLIDE): "prismatic",
    }
    return pk_mjcf.build_chain_from_mjcf(xml, body=root_body)


def primitive_mesh(geom_type: int, size: np.ndarray, segments: int = 16):
    """A trimesh of one MuJoCo primitive in its geom frame; round ones inscribed with `segments` segments per
    circle (vertices on the true surface, faces at most r (1 - cos(pi / segments)) inside it)."""
    import trimesh

    mujoco = require_mujoco()
    if geom_type == int(mujoco.mjtGeom.mjGEOM_BOX):
        return trimesh.creation.box(extents=2 * size[:3])
    if geom_type == int(mujoco.mjtGeom.mjGEOM_CAPSULE):
        return trimesh.creation.capsule(height=2 * size[1], radius=size[0], count=[segments, segments])
    if geom_type == int(mujoco.mjtGeom.mjGEOM_SPHERE):
        # An icosphere's equator has ~5 * 2^subdivisions edges: 2 subdivisions for 16 segments.
        subdivisions = max(2, round(float(np.log2(segments / 4))))
        return trimesh.creation.icosphere(subdivisions=subdivisions, radius=size[0])
    if geom_type == int(mujoco.mjtGeom.mjGEOM_CYLINDER):
        return trimesh.creation.cylinder(radius=size[0], height=2 * size[1], sections=segments * 3 // 2)
    raise ValueError(f"geom type {geom_type} is not supported for hand surfaces")


def link_hulls(model, link_names: list[str]) -> dict[str, object]:
    """Convex hull (trimesh, link frame) of each link's geoms; links without geoms are left out.

    The hulls are the hand's outer surface: the LEAP visual meshes hold internal faces (the palm mesh has 2.4x
    the area of its hull), so sampling them directly would put points inside the hand. When a model has mesh
    geoms only those are used (they are the visual shape; the boxes beside them are coarse collision proxies);
    a primitives-only model uses all its geoms.
    """
    import trimesh

    mujoco = require_mujoco()
    mesh_type = int(mujoco.mjtGeom.mjGEOM_MESH)
    use_meshes = any(int(t) == mesh_type for t in model.geom_type)
    hulls = {}
    for name in link_names:
        body = model.body(name).id
        vertices = []
        for g in np.flatnonzero(model.geom_bodyid == body):
            geom_type = int(model.geom_type[g])
            if (geom_type == mesh_type) != use_meshes:
                continue
            if geom_type == mesh_type:
                mesh_id = model.geom_dataid[g]
                start, count = model.mesh_vertadr[mesh_id], model.mesh_vertnum[mesh_id]
                local = model.mesh_vert[start:start + count].astype(np.float64)
            else:
                local = np.asarray(primitive_mesh(geom_type, model.geom_size[g]).vertices)
            rotation = np.empty(9)
            mujoco.mju_quat2Mat(rotation, model.geom_quat[g])
            vertices.append(local @ rotation.reshape(3, 3).T + model.geom_pos[g])
        if vertices:
            hulls[name] = trimesh.convex.convex_hull(np.concatenate(vertices))
    return hulls


def excluded_body_pairs(model) -> set[frozenset[str]]:
    """Body pairs the MJCF's <contact><exclude> removes from collision checking."""
    pairs = set()
    for signature in model.exclude_signature[: model.nexclude]:
        b1, b2 = int(signature) >> 16, int(signature) & 0xFFFF  # body ids, world = 0
        pairs.add(frozenset((model.body(b1).name, model.body(b2).name)))
    return pairs

