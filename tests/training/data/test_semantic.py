"""Offscreen renders, depth-tested projection and DINOv2 features, checked against trimesh and closed forms."""

import numpy as np
import torch
import trimesh
from flash_training.data.semantic import Dinov2Features, SemanticConfig, project_features, project_points, render_views


def test_depth_back_projects_onto_the_mesh():
    mesh = trimesh.creation.capsule(height=0.08, radius=0.03)
    views = render_views(mesh, SemanticConfig(views=2, image_size=112))
    k, depth = views.intrinsics, views.depth_m[1]
    v, u = np.nonzero(depth < depth.max() - 1e-3)
    z = depth[v, u]
    opencv = np.stack([(u - k[0, 2]) * z / k[0, 0], (v - k[1, 2]) * z / k[1, 1], z], axis=1)
    world = (views.cam_to_world[1][:3, :3] @ (opencv * [1, -1, -1]).T).T + views.cam_to_world[1][:3, 3]
    _, distance, _ = trimesh.proximity.closest_point(mesh, world[::7])
    assert len(world) > 500 and distance.max() < 5e-4


def test_visibility_sees_the_near_face_of_a_box_not_the_far_one():
    mesh = trimesh.creation.box((0.1, 0.1, 0.1))
    views = render_views(mesh, SemanticConfig(views=1, image_size=112))  # camera on +x, 30 degrees up
    grid = np.stack(np.meshgrid(np.linspace(-0.04, 0.04, 5), np.linspace(-0.04, 0.04, 5)), -1).reshape(-1, 2)
    near = np.column_stack([np.full(len(grid), 0.05), grid])
    far = np.column_stack([np.full(len(grid), -0.05), grid])
    _, seen = project_points(np.concatenate([near, far]), views)
    assert seen[0, : len(grid)].all() and not seen[0, len(grid) :].any()


def test_features_are_sampled_at_each_points_pixel():
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    config = SemanticConfig(views=1, image_size=56)
    views = render_views(mesh, config)
    points = np.asarray(mesh.vertices)
    # A feature map that stores each pixel's own u coordinate: a seen point must read back its u.
    ramp = torch.arange(56, dtype=torch.float32).expand(56, 56)[None, None]  # (1, 1, H, W)
    features = project_features(points, views, ramp)
    uv, seen = project_points(points, views)
    assert seen[0].sum() > 50
    np.testing.assert_allclose(features[seen[0], 0], uv[0, seen[0], 0], atol=1e-3)


def test_untrained_dinov2_gives_patch_maps():
    config = SemanticConfig(views=2, image_size=56)
    encoder = Dinov2Features(config)
    maps = encoder(np.zeros((2, 56, 56, 3), np.uint8))
    assert not encoder.trained and maps.shape == (2, config.untrained_hidden_size, 4, 4) and torch.isfinite(maps).all()
