"""Per-point semantic features: render the object, run DINOv2 on the images, project features onto the points.

1. `render_views` draws the object with MuJoCo's offscreen renderer (headless: MUJOCO_GL=egl) from cameras on
   a ring around it and returns RGB, metric z-depth, intrinsics and camera poses.
2. `Dinov2Features` turns images into a patch feature map with `transformers.Dinov2Model`: pretrained weights
   from a LOCAL folder when given (no model hub is reachable here), otherwise a small randomly initialised
   configuration that is UNTRAINED — it keeps the pipeline and shapes honest, its features carry no semantics.
3. `project_features` samples each view's feature map at every point's pixel where the depth test says the
   point is visible, and averages over views; points no camera sees take their nearest seen neighbour's value.

Camera convention: MuJoCo cameras look along -z with y up; pixels follow OpenCV (u right, v down), so a point in
the camera frame (x, y, z) maps to the OpenCV frame (x, -y, -z). fx = fy = (H/2)/tan(fovy/2), cx = (W-1)/2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import trimesh

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class SemanticConfig:
    image_size: int = 224  # square renders; a multiple of the 14-pixel DINOv2 patch
    views: int = 6  # cameras on a ring around the object, alternating above and below its equator
    fovy_deg: float = 40.0
    model_path: str | None = None  # local folder of a pretrained Dinov2Model (config.json + weights)
    untrained_hidden_size: int = 64  # size of the random stand-in when no model_path is given
    untrained_layers: int = 2
    visibility_tolerance_m: float = 0.004  # a point is visible when its depth is within this of the rendered one
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.image_size % 14:
            raise ValueError(f"image_size must be a multiple of the 14-pixel patch, got {self.image_size}")
        if self.views < 1:
            raise ValueError("at least one view is needed")


@dataclass
class RenderedViews:
    rgb: np.ndarray  # (V, H, W, 3) uint8
    depth_m: np.ndarray  # (V, H, W) float32 z-depth along the optical axis; far plane where nothing is hit
    intrinsics: np.ndarray  # (3, 3) float64, OpenCV convention
    cam_to_world: np.ndarray  # (V, 4, 4) float64, MuJoCo camera frame (looks along -z)


def _look_at_quat(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    import mujoco

    back = position - target
    z = back / np.linalg.norm(back)  # the camera looks along -z, so +z points away from the target
    up = np.array([0.0, 0.0, 1.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.stack([x, y, z], axis=1).ravel())
    return quat


def render_views(mesh: trimesh.Trimesh, config: SemanticConfig) -> RenderedViews:
    """Render RGB and depth of `mesh` (metres) from `config.views` cameras that frame its bounding sphere."""
    import mujoco

    centre = mesh.bounding_box.centroid
    radius = float(np.linalg.norm(mesh.extents)) / 2
    distance = radius / np.sin(np.radians(config.fovy_deg) / 2) * 1.1
    spec = mujoco.MjSpec()
    spec.visual.global_.offwidth = spec.visual.global_.offheight = config.image_size
    spec.visual.map.znear = 0.01  # fractions of the model extent; keep near/far snug for depth precision
    spec.add_mesh(
        name="object",
        uservert=np.asarray(mesh.vertices, np.float32).ravel().tolist(),
        userface=np.asarray(mesh.faces, np.int32).ravel().tolist(),
    )
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname="object", rgba=[0.75, 0.72, 0.68, 1.0])
    spec.worldbody.add_light(
        pos=centre + [0, 0, 3 * distance], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, castshadow=0
    )
    poses = []
    for v in range(config.views):
        azimuth = 2 * np.pi * v / config.views
        elevation = np.radians(30.0 if v % 2 == 0 else -20.0)
        position = centre + distance * np.array(
            [np.cos(azimuth) * np.cos(elevation), np.sin(azimuth) * np.cos(elevation), np.sin(elevation)]
        )
        quat = _look_at_quat(position, centre)
        spec.worldbody.add_camera(name=f"view{v}", pos=position, quat=quat, fovy=config.fovy_deg)
        rotation = np.zeros(9)
        mujoco.mju_quat2Mat(rotation, quat)
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = rotation.reshape(3, 3), position
        poses.append(pose)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    rgb, depth = _render_fixed_cameras(model, data, config.image_size)
    size = config.image_size
    focal = (size / 2) / np.tan(np.radians(config.fovy_deg) / 2)
    intrinsics = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]])
    return RenderedViews(rgb, depth, intrinsics, np.stack(poses))


def _offscreen_context(size: int):
    """An OpenGL context for MUJOCO_GL (default egl), chosen at call time.

    mujoco.Renderer picks its backend once, when mujoco is first imported; in a process where another module
    imported mujoco before MUJOCO_GL was set it would pick GLFW and fail without a display. Making the context
    here keeps rendering independent of import order.
    """
    backend = os.environ.get("MUJOCO_GL", "egl").lower()
    if backend == "osmesa":
        from mujoco.osmesa import GLContext
    elif backend == "glfw":
        from mujoco.glfw import GLContext
    else:
        from mujoco.egl import GLContext
    return GLContext(size, size)


def _render_fixed_cameras(model, data, size: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB (V, H, W, 3) uint8 and metric z-depth (V, H, W) float32 from every fixed camera of the model."""
    import mujoco

    context = _offscreen_context(size)
    context.make_current()
    render_context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
    try:
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, render_context)
        render_context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR  # the mapping the inversion below undoes
        scene, option, perturb = mujoco.MjvScene(model, maxgeom=16), mujoco.MjvOption(), mujoco.MjvPerturb()
        camera = mujoco.MjvCamera()
        camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        rect = mujoco.MjrRect(0, 0, size, size)
        rgb = np.empty((model.ncam, size, size, 3), np.uint8)
        buffer = np.empty((model.ncam, size, size), np.float32)
        for v in range(model.ncam):
            camera.fixedcamid = v
            mujoco.mjv_updateScene(model, data, option, perturb, camera, mujoco.mjtCatBit.mjCAT_ALL, scene)
            mujoco.mjr_render(rect, scene, render_context)
            mujoco.mjr_readPixels(rgb[v], None, rect, render_context)
            # Depth from a second, segmentation-style pass (no lighting or blending): as mujoco.Renderer does,
            # for depth accurate to well below a millimetre.
            scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = True
            mujoco.mjr_render(rect, scene, render_context)
            mujoco.mjr_readPixels(None, buffer[v], rect, render_context)
            scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = False
    finally:
        render_context.free()
        context.free()
    # OpenGL rows run bottom-up. MuJoCo renders with reversed z; undo its perspective mapping (the same
    # inversion mujoco.Renderer applies) in float64, where float32 would lose millimetres at this range.
    near = np.float32(model.vis.map.znear * model.stat.extent)
    far = np.float32(model.vis.map.zfar * model.stat.extent)
    c_coef = np.float32(-0.5) * (-(far + near) / (far - near)) - np.float32(0.5)
    d_coef = np.float32(-0.5) * (-(np.float32(2) * far * near) / (far - near))
    depth = (d_coef / (buffer.astype(np.float64) + c_coef)).astype(np.float32)
    return rgb[:, ::-1].copy(), depth[:, ::-1].copy()


class Dinov2Features:
    """Images (V, H, W, 3) uint8 -> patch features (V, C, H/14, W/14) float32."""

    def __init__(self, config: SemanticConfig) -> None:
        from transformers import Dinov2Config, Dinov2Model

        if config.model_path:
            self.model = Dinov2Model.from_pretrained(config.model_path, local_files_only=True)
            self.trained = True
        else:
            torch.manual_seed(0)  # the untrained stand-in is the same network on every run
            small = Dinov2Config(
                hidden_size=config.untrained_hidden_size,
                num_hidden_layers=config.untrained_layers,
                num_attention_heads=2,
                intermediate_size=2 * config.untrained_hidden_size,
                image_size=config.image_size,
                patch_size=14,
            )
            self.model = Dinov2Model(small)
            self.trained = False
        self.model.eval().to(config.device)
        self.device = torch.device(config.device)
        self.patch = self.model.config.patch_size

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def __call__(self, rgb: np.ndarray) -> torch.Tensor:
        images = torch.from_numpy(rgb).to(self.device).permute(0, 3, 1, 2).float() / 255.0  # (V, 3, H, W)
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        hidden = self.model(pixel_values=(images - mean) / std).last_hidden_state  # (V, 1 + h*w, C)
        h, w = rgb.shape[1] // self.patch, rgb.shape[2] // self.patch
        patches = hidden[:, -h * w :]  # drop the class token (and register tokens, where a model has them)
        return patches.transpose(1, 2).reshape(len(rgb), -1, h, w)


def project_points(
    points: np.ndarray, views: RenderedViews, tolerance_m: float = 0.004
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (V, N, 2) of world points (N, 3) and whether each view sees each point (V, N)."""
    world_to_cam = np.linalg.inv(views.cam_to_world)  # (V, 4, 4)
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1)  # (N, 4)
    cam = np.einsum("vij,nj->vni", world_to_cam, homogeneous)[..., :3]  # (V, N, 3) MuJoCo camera frame
    opencv = cam * np.array([1.0, -1.0, -1.0])
    z = opencv[..., 2]
    k = views.intrinsics
    uv = np.stack([k[0, 0] * opencv[..., 0] / z + k[0, 2], k[1, 1] * opencv[..., 1] / z + k[1, 2]], axis=-1)
    height, width = views.depth_m.shape[1:]
    pixel = np.round(uv).astype(np.int64)
    inside = (z > 0) & (pixel[..., 0] >= 0) & (pixel[..., 0] < width) & (pixel[..., 1] >= 0) & (pixel[..., 1] < height)
    rendered = np.full(z.shape, np.inf, np.float32)
    v_idx, n_idx = np.nonzero(inside)
    rendered[v_idx, n_idx] = views.depth_m[v_idx, pixel[v_idx, n_idx, 1], pixel[v_idx, n_idx, 0]]
    return uv, inside & (z <= rendered + tolerance_m)


def project_features(
    points: np.ndarray, views: RenderedViews, feature_maps: torch.Tensor, tolerance_m: float = 0.004
) -> np.ndarray:
    """Average each point's feature over the views that see it: (N, 3) -> (N, C) float32."""
    uv, seen = project_points(points, views, tolerance_m)
    height, width = views.depth_m.shape[1:]
    # grid_sample wants coordinates in [-1, 1] over pixel centres (align_corners=True matches cx = (W-1)/2).
    grid = torch.from_numpy(np.stack([uv[..., 0] / (width - 1), uv[..., 1] / (height - 1)], axis=-1) * 2 - 1).float()
    sampled = F.grid_sample(feature_maps.float().cpu(), grid[:, :, None, :], align_corners=True)[..., 0]  # (V, C, N)
    weights = torch.from_numpy(seen).float()  # (V, N)
    total = (sampled * weights[:, None]).sum(0)  # (C, N)
    count = weights.sum(0)
    features = (total / count.clamp(min=1)).T.numpy()  # (N, C)
    unseen = count.numpy() == 0
    if unseen.all():
        raise ValueError("no camera sees any point: the object is outside every view")
    if unseen.any():
        from scipy.spatial import cKDTree

        _, nearest = cKDTree(points[~unseen]).query(points[unseen])
        features[unseen] = features[~unseen][nearest]
    return features.astype(np.float32)


def semantic_point_features(
    mesh: trimesh.Trimesh, points: np.ndarray, config: SemanticConfig, encoder: Dinov2Features | None = None
) -> np.ndarray:
    """The whole chain for one object: (N, 3) surface points -> (N, C) features."""
    views = render_views(mesh, config)
    encoder = encoder or Dinov2Features(config)
    return project_features(points, views, encoder(views.rgb), config.visibility_tolerance_m)
