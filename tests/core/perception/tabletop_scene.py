"""A tabletop scene rendered by MuJoCo for the perception tests: a table with a box (left, seen from the robot),
a cylinder (middle, tallest) and a sphere (right), a camera over the robot's shoulder, 1 mm depth noise. The base
frame is MuJoCo's world frame; ground truth is the renderer's per-pixel label (mesh index, or TABLE -2)."""

from __future__ import annotations

import dataclasses

import numpy as np
import trimesh

from flash_core.sim.depth_camera import CameraIntrinsics, DepthCamera, DepthImage, look_at

TABLE_HEIGHT_M = 0.02  # the table top in the base frame (the base sits a little below it)
OBJECT_CENTRES_M = np.array([[0.55, 0.16, TABLE_HEIGHT_M + 0.04], [0.62, 0.0, TABLE_HEIGHT_M + 0.07],
                             [0.50, -0.17, TABLE_HEIGHT_M + 0.045]])
BOX, CYLINDER, SPHERE = 0, 1, 2
CAMERA_M = np.array([0.05, 0.05, 0.65])
BASE_FROM_CAMERA = look_at(CAMERA_M, np.array([0.57, 0.0, TABLE_HEIGHT_M]))  # (4, 4) OpenCV optical frame


def _meshes() -> list[trimesh.Trimesh]:
    box = trimesh.creation.box((0.07, 0.09, 0.08))
    cylinder = trimesh.creation.cylinder(radius=0.035, height=0.14, sections=48)
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.045)
    return [box, cylinder, sphere]


def _pose(centre: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = centre
    return pose


def render_scene(width: int = 320, height: int = 240, noise_m: float = 0.001, seed: int = 0) -> DepthImage:
    """The depth image (with Gaussian z noise on every return) and its labels."""
    with DepthCamera(_meshes(), CameraIntrinsics.from_fovy(width, height, 55.0), [_pose(c) for c in OBJECT_CENTRES_M],
                     table_height_m=TABLE_HEIGHT_M) as camera:
        image = camera.render(BASE_FROM_CAMERA)
    seen = image.depth_m > 0
    noise = np.random.default_rng(seed).normal(0.0, noise_m, image.depth_m.shape)
    return dataclasses.replace(image, depth_m=(image.depth_m + np.where(seen, noise, 0.0)).astype(np.float32))


def scene_points(image: DepthImage) -> tuple[np.ndarray, np.ndarray]:
    """Points (P, 3) of every return in the base frame, and their ground-truth labels (P,)."""
    cloud = image.point_cloud(normals=False)
    return cloud.points_m, image.segment[cloud.pixels[:, 0], cloud.pixels[:, 1]].astype(np.int64)
