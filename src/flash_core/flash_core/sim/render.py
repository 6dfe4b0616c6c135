"""Offscreen pictures of grasps: the hand's own MJCF posed by x, next to the object mesh, drawn by MuJoCo.

    image = render_grasps("leap", x, mesh)        # x (K, 25) in the mesh's frame -> (H, W * K, 3) uint8
    save_png(image, "grasps.png")

Works without a display: the OpenGL context comes from MUJOCO_GL (default "egl"; "osmesa" for pure software),
chosen when the picture is made rather than when mujoco was imported, so import order cannot break it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flash_core.sim import require_mujoco


def offscreen_context(width: int, height: int):
    """A current OpenGL context of the platform MUJOCO_GL names (egl, osmesa or glfw)."""
    require_mujoco()
    backend = os.environ.get("MUJOCO_GL", "egl").lower()
    if backend == "osmesa":
        from mujoco.osmesa import GLContext
    elif backend == "glfw":
        from mujoco.glfw import GLContext
    else:
        from mujoco.egl import GLContext
    context = GLContext(width, height)
    context.make_current()
    return context


@dataclass(frozen=True)
class View:
    """A camera orbiting the point between the object's centre and the wrist (MuJoCo free-camera angles)."""

    azimuth_deg: float = 135.0
    elevation_deg: float = -25.0
    distance_m: float = 0.4


def _scene_model(hand_name: str, mesh):
    """MjModel of the hand (free-floating root) plus the object mesh; returns (model, free qpos address,
    qpos addresses of the hand joints in FLASH order)."""
    mujoco = require_mujoco()
    from flash_core.hands.mjcf import load_source
    from flash_core.hands.spec import load_spec

    spec_data = load_spec(hand_name)
    spec = mujoco.MjSpec.from_string(load_source(spec_data, primitives=False).xml)
    root = spec.body(spec_data.root_body)
    if not any(j.type == mujoco.mjtJoint.mjJNT_FREE for j in root.joints):
        root.add_freejoint(name="flash_root")
    spec.option.gravity = [0.0, 0.0, 0.0]
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int32)
    if len(faces) == 0:
        raise ValueError("the object mesh has no faces")
    spec.add_mesh(name="flash_object", uservert=vertices.ravel().tolist(), userface=faces.ravel().tolist())
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname="flash_object",
                            rgba=[0.85, 0.55, 0.25, 1.0], contype=0, conaffinity=0)
    directional = int(mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)
    spec.worldbody.add_light(pos=[0, 0, 2.0], dir=[0, 0, -1], type=directional)
    spec.worldbody.add_light(pos=[1.0, 1.0, 1.0], dir=[-1, -1, -1], type=directional, diffuse=[0.4, 0.4, 0.4])
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.add_texture(name="flash_sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, rgb1=[0.95, 0.95, 0.97], rgb2=[0.6, 0.65, 0.75],
                     width=256, height=256)
    model = spec.compile()
    free = next(j for j in range(model.njnt) if int(model.jnt_type[j]) == int(mujoco.mjtJoint.mjJNT_FREE))
    joints = [int(model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)])
              for name in spec_data.model_joint_names]
    return model, int(model.jnt_qposadr[free]), joints


def render_grasps(hand_name: str, poses: np.ndarray, mesh, *, size: int = 400,
                  views: tuple[View, ...] = (View(),)) -> np.ndarray:
    """One picture per (grasp, view), tiled: grasps along the width, views along the height.

    poses (K, 25): x = [wrist translation m, rot6d, joints rad] of the hand root frame in the mesh's frame.
    Returns (len(views) * size, K * size, 3) uint8.
    """
    import torch

    from flash_core.geometry.rotations import matrix_to_quaternion, rot6d_to_matrix

    mujoco = require_mujoco()
    poses = np.atleast_2d(np.asarray(poses, dtype=np.float64))
    if poses.shape[1] != 25 or not np.isfinite(poses).all():
        raise ValueError(f"poses must be finite (K, 25), got shape {poses.shape}")
    model, free_adr, joint_adr = _scene_model(hand_name, mesh)
    data = mujoco.MjData(model)
    centre = np.asarray(mesh.bounding_box.centroid)
    radius = float(np.linalg.norm(mesh.extents)) / 2
    quats = matrix_to_quaternion(rot6d_to_matrix(torch.as_tensor(poses[:, 3:9]))).numpy()

    context = offscreen_context(size, size)
    render_context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
    try:
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, render_context)
        scene, option, perturb = mujoco.MjvScene(model, maxgeom=2000), mujoco.MjvOption(), mujoco.MjvPerturb()
        camera = mujoco.MjvCamera()
        camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        rect = mujoco.MjrRect(0, 0, size, size)
        tiles = np.zeros((len(views) * size, len(poses) * size, 3), np.uint8)
        for k, x in enumerate(poses):
            data.qpos[free_adr:free_adr + 3] = x[:3]
            data.qpos[free_adr + 3:free_adr + 7] = quats[k]
            data.qpos[joint_adr] = x[9:]
            mujoco.mj_forward(model, data)
            camera.lookat[:] = (centre + x[:3]) / 2  # object and hand both in view
            for v, view in enumerate(views):
                camera.azimuth, camera.elevation = view.azimuth_deg, view.elevation_deg
                camera.distance = max(view.distance_m, 4 * radius)
                mujoco.mjv_updateScene(model, data, option, perturb, camera, mujoco.mjtCatBit.mjCAT_ALL, scene)
                mujoco.mjr_render(rect, scene, render_context)
                rgb = np.empty((size, size, 3), np.uint8)
                mujoco.mjr_readPixels(rgb, None, rect, render_context)
                tiles[v * size:(v + 1) * size, k * size:(k + 1) * size] = rgb[::-1]  # OpenGL rows go up
        return tiles
    finally:
        render_context.free()
        context.free()


def save_png(image: np.ndarray, path: str | Path) -> Path:
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
