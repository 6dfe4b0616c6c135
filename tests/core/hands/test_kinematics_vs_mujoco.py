"""HandModel against MuJoCo's own kinematics on the same (patched) official model."""

import mujoco
import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from flash_core.geometry.rotations import make_transform, matrix_to_quaternion
from flash_core.hands.mjcf import compile_model, load_source
from flash_core.hands.pose import pose_from_matrix


def _random_poses(hand, batch, seed):
    generator = torch.Generator().manual_seed(seed)
    q = hand.joint_lower + torch.rand(batch, hand.dof, generator=generator, dtype=hand.dtype) * (
        hand.joint_upper - hand.joint_lower)
    rotation = torch.as_tensor(Rotation.random(batch, random_state=seed).as_matrix(), dtype=hand.dtype)
    translation = torch.randn(batch, 3, generator=generator, dtype=hand.dtype) * 0.2
    return pose_from_matrix(make_transform(rotation, translation), q)


def _mujoco_at(hand, model, data, x):
    """Put MuJoCo's model at hand pose x (25,): free joint = wrist pose, hinge joints = q."""
    data.qpos[:3] = x[:3].numpy()
    rotation = torch.stack([x[3:6], x[6:9], torch.linalg.cross(x[3:6], x[6:9])], dim=-1)
    data.qpos[3:7] = matrix_to_quaternion(rotation).numpy()
    for k, joint in enumerate(hand.model_joint_names):
        data.qpos[model.joint(joint).qposadr[0]] = x[9 + k].item()
    mujoco.mj_kinematics(model, data)


@pytest.fixture(scope="module")
def mj(hand64):
    model = compile_model(load_source(hand64.spec, primitives=False).xml)
    return model, mujoco.MjData(model)


def test_link_poses_match_mj_kinematics(hand64, mj):
    model, data = mj
    x = _random_poses(hand64, 50, seed=1)
    poses = hand64.link_poses(x)
    position_error = rotation_error = 0.0
    for b in range(len(x)):
        _mujoco_at(hand64, model, data, x[b])
        for link, name in enumerate(hand64.link_names):
            body = model.body(name).id
            position_error = max(position_error, np.abs(data.xpos[body] - poses[b, link, :3, 3].numpy()).max())
            rotation_error = max(rotation_error,
                                 np.abs(data.xmat[body].reshape(3, 3) - poses[b, link, :3, :3].numpy()).max())
    # pytorch-kinematics stores its offsets in float32 (see hands.mjcf): ~1e-7 m.
    assert position_error < 1e-6, position_error
    assert rotation_error < 1e-5, rotation_error


def test_surface_points_lie_on_hulls_of_mujoco_geoms(hand64, mj):
    """Points and normals vs the convex hull of each link's mesh geoms placed by MuJoCo (geom_xpos/xmat)."""
    model, data = mj
    x = _random_poses(hand64, 2, seed=2)
    points, normals = hand64.surface_points(x, normals=True)
    assert points.shape == (2, 1024, 3) and normals.shape == (2, 1024, 3)
    torch.testing.assert_close(normals.norm(dim=-1), torch.ones(2, 1024, dtype=torch.float64))
    mesh_type = int(mujoco.mjtGeom.mjGEOM_MESH)
    for b in range(2):
        _mujoco_at(hand64, model, data, x[b])
        for link, name in enumerate(hand64.link_names):
            mine = hand64.surface_point_link_index == link
            if not mine.any():
                continue
            vertices = []
            for g in np.flatnonzero(model.geom_bodyid == model.body(name).id):
                if int(model.geom_type[g]) != mesh_type:
                    continue
                mesh = model.geom_dataid[g]
                local = model.mesh_vert[model.mesh_vertadr[mesh]:model.mesh_vertadr[mesh] + model.mesh_vertnum[mesh]]
                vertices.append(local @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g])
            hull = trimesh.convex.convex_hull(np.concatenate(vertices))
            # On a convex polytope's surface the largest signed distance to its face planes is exactly 0
            # (trimesh's closest_point loses ~1e-4 m on the hulls' sliver triangles, so it is not used).
            planes = (hull.face_normals[None] * (points[b, mine].numpy()[:, None] - hull.triangles[None, :, 0])).sum(-1)
            assert np.abs(planes.max(1)).max() < 1e-6, (name, np.abs(planes.max(1)).max())
            alignment = (hull.face_normals[planes.argmax(1)] * normals[b, mine].numpy()).sum(1)
            assert np.median(alignment) > 0.999, name  # a point on an edge may pick the neighbouring face


def test_leap_index_tip_patch_puts_it_where_the_other_tips_are(mj, hand64):
    if hand64.name != "leap":
        pytest.skip("LEAP-specific")
    model, _ = mj
    for other in ("mf_tip", "rf_tip"):
        np.testing.assert_allclose(model.geom("if_tip").pos, model.geom(other).pos, atol=2e-4)
