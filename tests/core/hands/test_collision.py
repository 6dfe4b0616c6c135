"""The hands' official collision geometry: pieces, penetration both ways against known answers, self-collision from
MuJoCo checked against sampled depths, and the optimiser's differentiable terms."""

import numpy as np
import pytest
import torch
import trimesh

from flash_core.geometry.sdf import MeshSDF
from flash_core.hands.collision import DEFAULT_TOLERANCE_M, hand_collision, links_that_may_touch, piece_depth


@pytest.fixture(scope="module")
def leap():
    from flash_core.assets import AssetsMissingError
    from flash_core.hands import make_hand

    try:
        return make_hand("leap", dtype=torch.float64)
    except AssetsMissingError as exc:
        pytest.skip(f"assets not fetched: {exc}")


def crossed(hand):
    """The open hand with middle and ring fingers curled and spread towards each other: they overlap (MuJoCo:
    28 mm)."""
    x = hand.open_pose(1)
    names = hand.joint_names
    x[0, 9 + names.index("4")], x[0, 9 + names.index("8")] = 0.5, -0.5  # middle and ring abduction, converging
    for joint in ("5", "6", "9", "10"):
        x[0, 9 + names.index(joint)] = 1.0
    return x


def test_pieces_are_the_mjcf_collision_geoms(hand64):
    pieces = hand_collision(hand64).pieces
    if hand64.name == "leap":  # boxes plus the four fingertip meshes (as convex hulls)
        assert {"if_tip", "mf_tip", "rf_tip", "th_tip"} <= set(pieces.names) and not pieces.round.any()
    else:  # boxes plus four capsule fingertips
        assert pieces.round.sum() == 4
    assert not any(name.endswith("_visual") for name in pieces.names)


def test_surface_samples_lie_on_the_outer_collision_surface(hand64):
    collision = hand_collision(hand64)
    pieces = collision.pieces
    local, link = collision._points.local.numpy(), collision._points.link_index.numpy()
    assert len(local) >= 2048 and set(link) == set(pieces.link_index)
    for one in np.unique(link):
        own = [s for s in range(len(pieces.names)) if pieces.link_index[s] == one]
        depth = np.max([piece_depth(pieces, s, local[link == one]) for s in own], axis=0)
        # On a piece's surface (depth 0 there), never buried in another piece of the same link.
        assert depth.min() > -1e-7 and depth.max() < 2.1e-4, (hand64.link_names[one], depth.min(), depth.max())


def touching_from_below(collision, x, mesh, depth_m):
    """`mesh` moved so that its highest point lies `depth_m` above the hand's lowest collision corner, under it."""
    corners = collision.surface_triangles(x)[0].reshape(-1, 3)
    lowest = corners[corners[:, 2].argmin()].numpy()
    top = mesh.vertices[mesh.vertices[:, 2].argmax()]
    mesh.apply_translation(lowest - top + (0, 0, depth_m))
    return mesh


def test_open_hand_pressed_into_a_table_by_known_depth(leap):
    collision = hand_collision(leap)
    x = leap.open_pose(1)
    table = trimesh.creation.box(extents=(0.6, 0.6, 0.1))
    lowest = collision.surface_triangles(x)[0].reshape(-1, 3)[:, 2].min()
    table.apply_translation((0, 0, float(lowest) + 0.0015 - 0.05))  # the top face 1.5 mm above the lowest corner
    result = collision.penetration(x, MeshSDF.from_trimesh(table))
    # A flat face: the deepest hand point is a corner of a polytope piece, 1.5 mm deep.
    assert 0.0015 - DEFAULT_TOLERANCE_M <= result.hand_in_object_m.item() <= 0.0015 + 1e-9
    assert abs(result.object_in_hand_m.item() - 0.0015) <= DEFAULT_TOLERANCE_M  # the table's face inside the box
    assert result.max_m.item() == max(result.hand_in_object_m.item(), result.object_in_hand_m.item())


def test_a_thin_blade_pushed_into_the_palm_counts_in_both_directions(leap):
    collision = hand_collision(leap)
    x = leap.open_pose(1)
    palm = collision.pieces.names.index("palm_collision_7")
    pose = leap.link_poses(x)[0, collision.pieces.link_index[palm]].numpy()
    box = collision._box[palm].numpy()
    # A 1 mm blade standing on the piece's -z face, 4 mm into it, across the face's middle.
    centre, extent = box.mean(0), box[1] - box[0]
    blade = trimesh.creation.box(extents=(extent[0] * 3, 0.001, 0.02))
    blade.apply_translation((centre[0], centre[1], box[0, 2] - 0.01 + 0.004))
    blade.apply_transform(pose)
    result = collision.penetration(x, MeshSDF.from_trimesh(blade))
    # The blade sinks 4 mm into the piece; the piece's face sinks only half the blade's thickness into the blade.
    assert abs(result.object_in_hand_m.item() - 0.004) <= DEFAULT_TOLERANCE_M
    assert result.hand_in_object_m.item() <= 0.0005 + 1e-9


def test_penetration_of_a_far_object_is_zero(leap):
    ball = trimesh.creation.icosphere(radius=0.05)
    ball.apply_translation((1.0, 0, 0))
    result = hand_collision(leap).penetration(leap.open_pose(2), MeshSDF.from_trimesh(ball))
    assert (result.max_m == 0).all()


def test_self_collision_is_mujoco_and_bounds_sampled_depths(leap):
    collision = hand_collision(leap)
    x = torch.cat([leap.open_pose(1), crossed(leap)])
    depth = collision.self_penetration(x)
    assert depth[0] == 0.0 and depth[1] > 0.002
    # Sampled points of one link inside the pieces of links that may touch it: some are inside, none deeper than
    # MuJoCo's penetration depth (a point sinks no further than the distance that separates the two pieces).
    pieces = collision.pieces
    poses = leap.link_poses(x[1:])[0].numpy()
    points = collision.surface_points(x[1:])[0].numpy()
    point_link = collision._points.link_index.numpy()
    may_touch = links_that_may_touch(collision._model, leap.link_names)
    deepest = 0.0
    for s in range(len(pieces.names)):
        pose = poses[pieces.link_index[s]]
        own = points[may_touch[point_link, pieces.link_index[s]]]
        deepest = max(deepest, float(piece_depth(pieces, s, (own - pose[:3, 3]) @ pose[:3, :3]).max()))
    assert 0 < deepest <= depth[1] + 1e-6
    summed = collision.self_penetration_sum(x)
    assert summed[0] == 0 and summed[1] > deepest


def test_differentiable_terms_push_the_hand_out(leap):
    collision = hand_collision(leap)
    x = crossed(leap).requires_grad_(True)
    collision.self_penetration_sum(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    stepped = (x - 1e-4 * x.grad / x.grad.norm()).detach()
    assert collision.self_penetration_sum(stepped) < collision.self_penetration_sum(x.detach())

    ball = touching_from_below(collision, leap.open_pose(1), trimesh.creation.icosphere(radius=0.03), 0.003)
    sdf = MeshSDF.from_trimesh(ball)
    points = torch.as_tensor(trimesh.sample.sample_surface(ball, 2000, seed=0)[0])
    x = leap.open_pose(1).requires_grad_(True)
    inside = collision.object_penetration(x, sdf, points)
    assert inside.item() > 0
    inside.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[0, :3].abs().sum() > 0


def test_sampled_penetration_converges_to_the_figure(leap):
    """Hand collision surface and object surface sampled at growing density: the deepest sample approaches the
    branch-and-bound figure and never exceeds it by more than the tolerance."""
    collision = hand_collision(leap)
    x = leap.open_pose(1)
    ball = touching_from_below(collision, x, trimesh.creation.icosphere(subdivisions=3, radius=0.04), 0.002)
    sdf = MeshSDF.from_trimesh(ball)
    figure = collision.penetration(x, sdf).max_m.item()
    rng = np.random.default_rng(0)
    triangles = collision.surface_triangles(x)[0].numpy()
    area = np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)
    pick = rng.choice(len(triangles), 64_000, p=area / area.sum())
    u, v = rng.random((2, 64_000))
    u, v = np.where(u + v > 1, 1 - u, u), np.where(u + v > 1, 1 - v, v)
    t = triangles[pick]
    hand_points = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    hand_depth = -sdf(torch.as_tensor(hand_points)[None])[0].numpy()
    object_points = torch.as_tensor(trimesh.sample.sample_surface(ball, 64_000, seed=0)[0])[None]
    object_depth = collision.depth_inside(x, object_points)[0].numpy()
    sampled = [max(hand_depth[:n].max(), object_depth[:n].max()) for n in (1_000, 8_000, 64_000)]
    assert figure > 0.001
    assert max(sampled) <= figure + DEFAULT_TOLERANCE_M
    assert figure - sampled[-1] < 2e-4  # the bar: denser sampling moves it by less than 0.2 mm
