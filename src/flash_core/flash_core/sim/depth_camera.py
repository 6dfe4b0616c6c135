"""A simulated depth camera: pinhole intrinsics, depth images of meshes by MuJoCo's offscreen renderer, point clouds.

    camera = DepthCamera([mesh], CameraIntrinsics(), table_height_m=mesh.bounds[0, 2])
    poses = view_sphere_poses(8, target_m=mesh.centroid, rng=np.random.default_rng(0))
    image = camera.render(poses[0])                 # depth (H, W) m, segment (H, W)
    cloud = image.point_cloud(label=0)              # points and normals of mesh 0, in the world frame
    camera.close()

Frames. Camera poses are `cam_to_world` (4, 4) in the OpenCV convention used by depth cameras and ROS optical
frames: x right, y down, z forward (MuJoCo's own cameras look along -z with y up: OpenCV x [1, -1, -1]). Pixel
(u, v) has its centre at integer coordinates, so a camera with its principal point in the middle of the image
has cx = (W - 1) / 2, cy = (H - 1) / 2.

Depth is metric z-depth along the optical axis (not ray length), 0 where no surface is hit (the convention of
real depth cameras). Any pinhole (fx != fy, off-centre principal point) is rendered exactly: the OpenGL frustum
is set from the intrinsics rather than from a field of view. Rendering is headless: the OpenGL context comes
from MUJOCO_GL (default "egl"), see `flash_core.sim.render.offscreen_context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from flash_core.sim import require_mujoco
from flash_core.sim.render import offscreen_context

BACKGROUND = -1  # segment label of pixels that see nothing
TABLE = -2  # segment label of the table plane


@dataclass(frozen=True)
class CameraIntrinsics:
    """A pinhole camera: image size (pixels), focal lengths and principal point (pixels, OpenCV convention).

    The default is a RealSense D435-class depth stream aligned to its colour camera at 640 x 480
    (fx = fy = 615 px, a 42.6 degree vertical field of view).
    """

    width: int = 640
    height: int = 480
    fx: float = 615.0
    fy: float = 615.0
    cx: float = 319.5
    cy: float = 239.5

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be positive, got {self.width} x {self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if not (np.isfinite(self.cx) and np.isfinite(self.cy)):
            raise ValueError(f"principal point must be finite, got ({self.cx}, {self.cy})")

    @classmethod
    def from_fovy(cls, width: int, height: int, fovy_deg: float) -> CameraIntrinsics:
        """Square pixels, principal point in the middle: fx = fy = (H/2) / tan(fovy/2) (MuJoCo's `fovy`)."""
        if not 0.0 < fovy_deg < 180.0:
            raise ValueError(f"fovy_deg must lie in (0, 180), got {fovy_deg}")
        focal = (height / 2) / np.tan(np.radians(fovy_deg) / 2)
        return cls(width, height, float(focal), float(focal), (width - 1) / 2, (height - 1) / 2)

    @property
    def fovy_deg(self) -> float:
        return float(np.degrees(2 * np.arctan((self.height / 2) / self.fy)))

    def matrix(self) -> np.ndarray:
        """K (3, 3) float64."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """(P, 3) points in the OpenCV camera frame (z > 0) -> (P, 2) pixel coordinates (u, v)."""
        z = points_cam[:, 2]
        return np.stack([self.fx * points_cam[:, 0] / z + self.cx, self.fy * points_cam[:, 1] / z + self.cy], axis=1)


def _check_pose(pose: np.ndarray, name: str) -> np.ndarray:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4) or not np.isfinite(pose).all():
        raise ValueError(f"{name} must be a finite (4, 4) transform, got shape {pose.shape}")
    rotation = pose[:3, :3]
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or np.linalg.det(rotation) < 0:
        raise ValueError(f"{name} must hold a rotation (orthonormal, det +1) in its upper-left 3 x 3 block")
    return pose


def look_at(position_m: np.ndarray, target_m: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """cam_to_world (4, 4), OpenCV frame: z from `position_m` towards `target_m`, image up along `up`
    (another horizontal axis is used when the camera looks straight along `up`)."""
    position, target = np.asarray(position_m, np.float64), np.asarray(target_m, np.float64)
    forward = target - position
    if np.linalg.norm(forward) < 1e-9:
        raise ValueError("the camera position and its target coincide")
    forward /= np.linalg.norm(forward)
    up = np.asarray(up, np.float64)
    if np.linalg.norm(np.cross(forward, up)) < 1e-6:
        up = np.array([1.0, 0.0, 0.0]) if abs(forward[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = position
    return pose


def view_sphere_poses(
    count: int,
    target_m: np.ndarray,
    rng: np.random.Generator,
    distance_range_m: tuple[float, float] = (0.4, 0.7),
    elevation_range_deg: tuple[float, float] = (15.0, 70.0),
) -> np.ndarray:
    """`count` cameras (K, 4, 4) cam_to_world looking at `target_m` from random points of a spherical band.

    Azimuth is uniform; elevation (above the xy-plane through the target, z up) is drawn uniformly in area over
    the band; distance uniformly in its range. The defaults are a camera over a table, looking down on it.
    """
    lo, hi = elevation_range_deg
    if not -90.0 <= lo <= hi <= 90.0:
        raise ValueError(f"elevation_range_deg must satisfy -90 <= low <= high <= 90, got {elevation_range_deg}")
    if not 0.0 < distance_range_m[0] <= distance_range_m[1]:
        raise ValueError(f"distance_range_m must satisfy 0 < low <= high, got {distance_range_m}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    azimuth = rng.uniform(0.0, 2 * np.pi, count)
    sin_elevation = rng.uniform(np.sin(np.radians(lo)), np.sin(np.radians(hi)), count)
    distance = rng.uniform(*distance_range_m, count)
    cos_elevation = np.sqrt(1.0 - sin_elevation**2)
    offsets = np.stack([np.cos(azimuth) * cos_elevation, np.sin(azimuth) * cos_elevation, sin_elevation], axis=1)
    target = np.asarray(target_m, np.float64)
    return np.stack([look_at(target + d * o, target) for d, o in zip(distance, offsets)])


def back_project(depth_m: np.ndarray, intrinsics: CameraIntrinsics, mask: np.ndarray | None = None) -> np.ndarray:
    """Depth image (H, W) -> (H, W, 3) points in the OpenCV camera frame, or (P, 3) for the pixels in `mask`
    (row-major order). Pixels of depth 0 give the camera centre."""
    height, width = depth_m.shape
    if (height, width) != (intrinsics.height, intrinsics.width):
        raise ValueError(
            f"depth image is {width} x {height}, the intrinsics are {intrinsics.width} x {intrinsics.height}"
        )
    v, u = np.mgrid[0:height, 0:width]
    if mask is not None:
        v, u, z = v[mask], u[mask], depth_m[mask].astype(np.float64)
    else:
        z = depth_m.astype(np.float64)
    return np.stack([(u - intrinsics.cx) / intrinsics.fx * z, (v - intrinsics.cy) / intrinsics.fy * z, z], axis=-1)


def organised_normals(points_cam: np.ndarray, valid: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Unit normals (H, W, 3) of an organised cloud (H, W, 3) in the camera frame, facing the camera; NaN where a
    pixel has no valid neighbour along a row or a column.

    Each direction uses the one-sided difference (left/right, up/down) with the smaller depth step among valid
    neighbours (with the same label, where `labels` (H, W) is given), so normals at silhouettes and depth edges
    come from the surface the pixel lies on."""

    def tangent(axis: int) -> np.ndarray:
        forward = np.full(points_cam.shape, np.nan)
        backward = np.full(points_cam.shape, np.nan)
        ahead = [slice(None)] * 2
        behind = [slice(None)] * 2
        ahead[axis], behind[axis] = slice(1, None), slice(None, -1)
        step = points_cam[tuple(ahead)] - points_cam[tuple(behind)]
        both = valid[tuple(ahead)] & valid[tuple(behind)]
        if labels is not None:
            both &= labels[tuple(ahead)] == labels[tuple(behind)]
        step[~both] = np.nan
        forward[tuple(behind)] = step  # P[i+1] - P[i], stored at i
        backward[tuple(ahead)] = step  # P[i] - P[i-1], stored at i
        use_backward = np.isnan(forward[..., 2]) | (np.abs(backward[..., 2]) < np.abs(forward[..., 2]))
        return np.where(use_backward[..., None], backward, forward)

    normals = np.cross(tangent(1), tangent(0))  # d/du x d/dv points away from the camera for a facing surface
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    facing = np.sum(normals * points_cam, axis=-1) > 0
    normals[facing] *= -1
    normals[~valid] = np.nan
    return normals


@dataclass
class PointCloud:
    points_m: np.ndarray  # (P, 3) float64, world frame
    normals: np.ndarray  # (P, 3) float64 unit normals facing the camera, world frame; NaN where not estimable
    pixels: np.ndarray  # (P, 2) int64 (v, u) of each point's pixel


@dataclass
class DepthImage:
    depth_m: np.ndarray  # (H, W) float32 z-depth, 0 where nothing is hit
    segment: np.ndarray  # (H, W) int16: index of the mesh seen, TABLE or BACKGROUND
    intrinsics: CameraIntrinsics
    cam_to_world: np.ndarray  # (4, 4) float64, OpenCV camera frame

    def point_cloud(self, label: int | None = None, normals: bool = True) -> PointCloud:
        """The points (world frame) of every pixel that sees a surface, or only those of segment `label`.
        `normals=False` skips the normal estimate (NaN normals) where only points are needed."""
        hit = self.segment != BACKGROUND
        mask = hit if label is None else self.segment == label
        pixels = np.argwhere(mask)  # (P, 2) row-major (v, u)
        if len(pixels) == 0:
            return PointCloud(np.zeros((0, 3)), np.zeros((0, 3)), pixels)
        # Work in the mask's bounding window (one pixel of margin for the normals' neighbours).
        top, left = np.maximum(pixels.min(0) - 1, 0)
        bottom, right = np.minimum(pixels.max(0) + 2, mask.shape)
        window = (slice(top, bottom), slice(left, right))
        k = self.intrinsics
        crop = CameraIntrinsics(int(right - left), int(bottom - top), k.fx, k.fy, k.cx - left, k.cy - top)
        organised = back_project(self.depth_m[window], crop)  # (h, w, 3) camera frame
        rotation, translation = self.cam_to_world[:3, :3], self.cam_to_world[:3, 3]
        points = organised[mask[window]] @ rotation.T + translation
        if normals:
            # Normals only from the same surface: neighbours on other meshes or the table are not used.
            normal = organised_normals(organised, mask[window], self.segment[window])[mask[window]] @ rotation.T
        else:
            normal = np.full_like(points, np.nan)
        return PointCloud(points, normal, pixels)


class DepthCamera:
    """Meshes (each with a pose, metres) and an optional table plane, rendered to depth from any camera pose.

    One OpenGL context and one compiled MuJoCo model per instance; `render` can be called for many poses.
    Close it (`close()` or a `with` block) to free the context.
    """

    def __init__(
        self,
        meshes: Sequence,
        intrinsics: CameraIntrinsics | None = None,
        mesh_poses: Sequence[np.ndarray] | None = None,
        table_height_m: float | None = None,
        near_m: float = 0.05,
        far_m: float = 10.0,
    ) -> None:
        mujoco = require_mujoco()
        self.intrinsics = intrinsics or CameraIntrinsics()
        if not 0.0 < near_m < far_m:
            raise ValueError(f"clipping planes must satisfy 0 < near < far, got near={near_m}, far={far_m}")
        if not meshes:
            raise ValueError("a depth camera needs at least one mesh to look at")
        mesh_poses = [np.eye(4)] * len(meshes) if mesh_poses is None else list(mesh_poses)
        if len(mesh_poses) != len(meshes):
            raise ValueError(f"{len(meshes)} meshes but {len(mesh_poses)} poses")
        self.near_m, self.far_m = near_m, far_m
        spec = mujoco.MjSpec()
        spec.visual.global_.offwidth, spec.visual.global_.offheight = self.intrinsics.width, self.intrinsics.height
        for i, (mesh, pose) in enumerate(zip(meshes, mesh_poses)):
            if len(mesh.faces) == 0:
                raise ValueError(f"mesh {i} has no faces")
            pose = _check_pose(pose, f"mesh pose {i}")
            spec.add_mesh(
                name=f"mesh{i}",
                uservert=np.asarray(mesh.vertices, np.float64).ravel().tolist(),
                userface=np.asarray(mesh.faces, np.int32).ravel().tolist(),
            )
            quat = np.zeros(4)
            mujoco.mju_mat2Quat(quat, pose[:3, :3].ravel())
            spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"mesh{i}", pos=pose[:3, 3], quat=quat)
        if table_height_m is not None:
            plane = mujoco.mjtGeom.mjGEOM_PLANE
            spec.worldbody.add_geom(type=plane, size=[far_m, far_m, 0.01], pos=[0.0, 0.0, table_height_m])
        self._model = spec.compile()
        # MuJoCo moves a mesh's vertices into its inertial frame and the geom pose with them: keep that offset
        # (user mesh frame -> compiled geom frame) so set_mesh_pose places the same surface.
        self._mesh_offsets = [np.linalg.inv(mesh_poses[i]) @ self._geom_pose(i) for i in range(len(meshes))]
        self._labels = np.array([*range(len(meshes)), *([TABLE] if table_height_m is not None else [])], np.int16)
        self._data = mujoco.MjData(self._model)
        mujoco.mj_forward(self._model, self._data)
        self._context = offscreen_context(self.intrinsics.width, self.intrinsics.height)
        self._render_context = mujoco.MjrContext(self._model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._render_context)
        self._render_context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR  # what _linear_depth inverts
        self._scene = mujoco.MjvScene(self._model, maxgeom=len(self._labels) + 8)
        self._option, self._perturb, self._free_camera = mujoco.MjvOption(), mujoco.MjvPerturb(), mujoco.MjvCamera()
        # Segmentation colours encode the scene geom: depth is read from this unlit pass, labels come with it.
        self._scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = True
        self._scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = True

    def _geom_pose(self, index: int) -> np.ndarray:
        mujoco = require_mujoco()
        rotation = np.zeros(9)
        mujoco.mju_quat2Mat(rotation, self._model.geom_quat[index])
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = rotation.reshape(3, 3), self._model.geom_pos[index]
        return pose

    def set_mesh_pose(self, index: int, pose: np.ndarray) -> None:
        """Move mesh `index` to `pose` (4, 4, world frame) for the next renders."""
        if not 0 <= index < len(self._mesh_offsets):
            raise IndexError(f"mesh index {index} outside [0, {len(self._mesh_offsets)})")
        geom = _check_pose(pose, "pose") @ self._mesh_offsets[index]
        self._data.geom_xpos[index] = geom[:3, 3]
        self._data.geom_xmat[index] = geom[:3, :3].ravel()

    def render(self, cam_to_world: np.ndarray) -> DepthImage:
        """Depth and segment images seen from `cam_to_world` (4, 4, OpenCV frame)."""
        mujoco = require_mujoco()
        pose = _check_pose(cam_to_world, "cam_to_world")
        k = self.intrinsics
        width, height = k.width, k.height
        self._context.make_current()
        mujoco.mjv_updateScene(
            self._model, self._data, self._option, self._perturb, self._free_camera, mujoco.mjtCatBit.mjCAT_ALL,
            self._scene,
        )
        near = self.near_m
        # The frustum's near-plane window spans the pixel edges: u in [-0.5, W - 0.5], v in [-0.5, H - 0.5].
        left, right = (-0.5 - k.cx) / k.fx * near, (width - 0.5 - k.cx) / k.fx * near
        for camera in self._scene.camera:  # both eyes the same: mono rendering averages them
            camera.pos[:] = pose[:3, 3]
            camera.forward[:] = pose[:3, 2]
            camera.up[:] = -pose[:3, 1]
            camera.orthographic = 0
            camera.frustum_near, camera.frustum_far = near, self.far_m
            camera.frustum_center, camera.frustum_width = (left + right) / 2, (right - left) / 2
            camera.frustum_top = (0.5 + k.cy) / k.fy * near
            camera.frustum_bottom = -(height - 0.5 - k.cy) / k.fy * near
        rect = mujoco.MjrRect(0, 0, width, height)
        mujoco.mjr_render(rect, self._scene, self._render_context)
        colour = np.empty((height, width, 3), np.uint8)
        buffer = np.empty((height, width), np.float32)
        mujoco.mjr_readPixels(colour, buffer, rect, self._render_context)
        colour, buffer = colour[::-1], buffer[::-1]  # OpenGL rows run bottom-up
        rgb = colour.astype(np.int64)
        scene_geom = rgb[..., 0] + (rgb[..., 1] << 8) + (rgb[..., 2] << 16) - 1  # MuJoCo's segmentation colours
        geom_ids = np.array([self._scene.geoms[i].objid for i in range(self._scene.ngeom)], np.int64)
        segment = np.full((height, width), BACKGROUND, np.int16)
        hit = scene_geom >= 0
        segment[hit] = self._labels[geom_ids[scene_geom[hit]]]
        depth = self._linear_depth(buffer)
        depth[~hit] = 0.0
        return DepthImage(depth, segment, k, pose)

    def _linear_depth(self, buffer: np.ndarray) -> np.ndarray:
        """OpenGL depth buffer -> metric z-depth. MuJoCo renders with reversed z; this undoes its projection (as
        mujoco.Renderer does) in float64, where float32 would lose millimetres."""
        near, far = np.float32(self.near_m), np.float32(self.far_m)
        c_coef = np.float32(-0.5) * (-(far + near) / (far - near)) - np.float32(0.5)
        d_coef = np.float32(-0.5) * (-(np.float32(2) * far * near) / (far - near))
        return (d_coef / (buffer.astype(np.float64) + c_coef)).astype(np.float32)

    def close(self) -> None:
        if self._render_context is not None:
            self._render_context.free()
            self._context.free()
            self._render_context = None

    def __enter__(self) -> DepthCamera:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
