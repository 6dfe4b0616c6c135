"""FrameTree against brute force: world poses of every frame computed by walking down from the root with
numpy's general inverse, slerp checked against rotations about one axis (closed form)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from flash_core.geometry.frame_tree import (
    DisconnectedFramesError,
    ExtrapolationError,
    FrameError,
    FrameTree,
    FrameTreeConfig,
    UnknownFrameError,
)
from tests.core.geometry.test_rigid import _random_transform


def _z_turn(angle_rad: float, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = Rotation.from_euler("z", angle_rad).as_matrix()
    out[:3, 3] = translation
    return out


def test_every_pair_matches_world_poses_composed_from_the_root():
    rng = np.random.default_rng(0)
    tree = FrameTree()
    parents = {"f1": "world", "f2": "world", "f3": "f1", "f4": "f1", "f5": "f3", "f6": "f2", "f7": "f6"}
    edges = {child: _random_transform(rng) for child in parents}
    for child, parent in parents.items():
        tree.set_transform(parent, child, edges[child], static=True)
    world = {"world": np.eye(4)}
    while len(world) < len(parents) + 1:  # brute force: each frame once its parent is placed
        for child, parent in parents.items():
            if parent in world and child not in world:
                world[child] = world[parent] @ edges[child]
    for target in world:
        for source in world:
            expected = np.linalg.inv(world[target]) @ world[source]
            np.testing.assert_allclose(tree.lookup(target, source), expected, atol=1e-10,
                                       err_msg=f"{target} <- {source}")
    assert tree.frames == set(world)


def test_dynamic_edge_is_interpolated_at_the_stamp():
    tree = FrameTree()
    tree.set_transform("base", "camera", _z_turn(0.3), static=True)
    tree.set_transform("odom", "base", _z_turn(0.0, (0.0, 0.0, 0.0)), stamp_s=10.0)
    tree.set_transform("odom", "base", _z_turn(1.0, (2.0, 0.0, 0.0)), stamp_s=12.0)
    at_11_5 = tree.lookup("odom", "camera", 11.5)
    np.testing.assert_allclose(at_11_5, _z_turn(0.75, (1.5, 0.0, 0.0)) @ _z_turn(0.3), atol=1e-12)
    np.testing.assert_allclose(tree.lookup("odom", "base", 12.0), _z_turn(1.0, (2.0, 0.0, 0.0)), atol=1e-12)
    # The inverse direction of the same lookup.
    np.testing.assert_allclose(tree.lookup("camera", "odom", 11.5), np.linalg.inv(at_11_5), atol=1e-12)


def test_latest_common_time_is_the_oldest_newest_sample_on_the_path():
    tree = FrameTree()
    for stamp in (0.0, 1.0, 2.0):
        tree.set_transform("a", "b", _z_turn(stamp * 0.1), stamp_s=stamp)
    for stamp in (0.0, 1.0):
        tree.set_transform("b", "c", _z_turn(0.0, (stamp, 0.0, 0.0)), stamp_s=stamp)
    # Path a <- b <- c: b->c ends at 1.0, so the a->b edge is read at 1.0 too.
    np.testing.assert_allclose(tree.lookup("a", "c"), _z_turn(0.1) @ _z_turn(0.0, (1.0, 0, 0)), atol=1e-12)
    np.testing.assert_allclose(tree.lookup("a", "b"), _z_turn(0.2), atol=1e-12)  # only a->b: its newest


def test_extrapolation_is_refused_beyond_the_tolerance_and_held_within():
    tree = FrameTree(FrameTreeConfig(max_extrapolation_s=0.05))
    tree.set_transform("map", "robot", _z_turn(0.0), stamp_s=1.0)
    tree.set_transform("map", "robot", _z_turn(0.5), stamp_s=2.0)
    np.testing.assert_allclose(tree.lookup("map", "robot", 2.04), _z_turn(0.5), atol=1e-12)
    with pytest.raises(ExtrapolationError, match="future"):
        tree.lookup("map", "robot", 2.2)
    with pytest.raises(ExtrapolationError, match="past"):
        tree.lookup("map", "robot", 0.5)


def test_history_is_pruned_static_edges_stay():
    tree = FrameTree(FrameTreeConfig(history_s=1.0, max_extrapolation_s=0.0))
    tree.set_transform("base", "mount", _z_turn(0.2), static=True)
    for stamp in np.arange(0.0, 5.01, 0.5):
        tree.set_transform("map", "base", _z_turn(stamp), stamp_s=float(stamp))
    with pytest.raises(ExtrapolationError, match="past"):
        tree.lookup("map", "base", 3.5)
    np.testing.assert_allclose(tree.lookup("map", "mount", 4.25), _z_turn(4.25) @ _z_turn(0.2), atol=1e-12)


def test_errors_name_the_frames():
    tree = FrameTree()
    tree.set_transform("base_link", "camera", np.eye(4), static=True)
    tree.set_transform("table", "mug", np.eye(4), static=True)
    with pytest.raises(UnknownFrameError, match="'gripper'.*base_link"):
        tree.lookup("base_link", "gripper")
    np.testing.assert_array_equal(tree.lookup("gripper", "gripper"), np.eye(4))  # tf2's answer, known or not
    with pytest.raises(DisconnectedFramesError, match="'mug' and 'camera'"):
        tree.lookup("camera", "mug")
    with pytest.raises(ValueError, match="loop"):
        tree.set_transform("camera", "base_link", np.eye(4), static=True)
    with pytest.raises(ValueError, match="own parent"):
        tree.set_transform("mug", "mug", np.eye(4))
    with pytest.raises(ValueError, match="proper rotation"):
        tree.set_transform("base_link", "arm", np.diag([1.0, -1.0, 1.0, 1.0]))


def test_a_new_parent_replaces_the_old_edge():
    tree = FrameTree()
    tree.set_transform("a", "c", _z_turn(0.0, (1.0, 0, 0)), static=True)
    tree.set_transform("b", "c", _z_turn(0.0, (0.0, 2.0, 0)), static=True)
    np.testing.assert_allclose(tree.lookup("b", "c")[:3, 3], (0.0, 2.0, 0.0))
    with pytest.raises(FrameError):  # "a" lost its only child: unknown now
        tree.lookup("a", "c")


def test_lookup_waits_for_a_transform_that_arrives_later():
    tree = FrameTree()
    timer = threading.Timer(0.2, tree.set_transform, ("base", "camera", _z_turn(0.4)), {"static": True})
    timer.start()
    try:
        np.testing.assert_allclose(tree.lookup("base", "camera", timeout_s=10.0), _z_turn(0.4), atol=1e-12)
    finally:
        timer.cancel()
    with pytest.raises(UnknownFrameError):
        tree.lookup("base", "elsewhere", timeout_s=0.05)
