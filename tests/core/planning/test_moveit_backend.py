"""The MoveIt backend (flash_motion.moveit_backend), its parts that run without ROS: its clear error here, the
core's import without it, the planning-scene boxes, the trajectory conversion (joint order, continuous joints,
missing derivatives), and the stage geometry it shares with OmplPlanner."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from planning_reference import box_cloud
from scipy.spatial.transform import Rotation

from flash_core.planning import MotionPlanner, OmplPlanner, Scene, SceneConfig
from flash_core.planning.pick import approach_direction
from flash_core.planning.pick_stages import pregrasp_pose
from flash_core.planning.scene import TableConfig
from flash_core.utils.require import MissingDependencyError
from flash_motion.moveit_backend import MoveItConfig, MoveItPyPlanner, joint_trajectory_from_msg, scene_boxes


def test_moveit_planner_says_what_it_needs():
    with pytest.raises(MissingDependencyError, match=r"needs ROS 2 Jazzy \+ MoveIt 2 \(moveit_py\)"):
        MoveItPyPlanner()
    with pytest.raises(MissingDependencyError, match="ros-jazzy-moveit-py"):
        MoveItPyPlanner(moveit=MoveItConfig(urdf_path="/nonexistent.urdf"))
    # Both backends are MotionPlanners: the pick node can hold either.
    assert issubclass(OmplPlanner, MotionPlanner) and issubclass(MoveItPyPlanner, MotionPlanner)


def test_core_imports_without_ros_and_finds_the_backend_in_flash_motion_only_when_asked():
    # A fresh interpreter where ROS, MoveIt and flash_motion cannot be imported (a None entry in sys.modules
    # makes every import of that name fail): the core must still import, and asking for "moveit" must say
    # what is missing rather than fail at import time.
    code = """
import sys
blocked = ("rclpy", "moveit", "moveit_configs_utils", "moveit_msgs", "geometry_msgs", "shape_msgs", "flash_motion")
sys.modules.update(dict.fromkeys(blocked, None))
import flash_core.planning
from flash_core.utils.require import MissingDependencyError
try:
    flash_core.planning.make_planner("moveit")
except MissingDependencyError as exc:
    print(exc)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "The MoveIt planner (planner 'moveit') needs the Python module 'flash_motion.moveit_backend'" in \
        result.stdout and "pip install -e src/flash_motion" in result.stdout


def test_scene_boxes_cover_the_cloud_and_the_table():
    cloud = box_cloud((0.5, 0.1, 0.06), (0.03, 0.04, 0.06), n=800)
    table = TableConfig(top_z_m=0.02, center_xy_m=(0.4, -0.1), size_xy_m=(1.0, 1.2), thickness_m=0.04)
    boxes = scene_boxes(Scene(SceneConfig(table=table, object_voxel_m=0.01), cloud))
    (size,), (center,) = boxes["table"].sizes_m, boxes["table"].centers_m
    np.testing.assert_allclose(size, [1.0, 1.2, 0.04])
    np.testing.assert_allclose(center + size / 2, [0.9, 0.5, 0.02])  # top face at top_z_m
    leaves = boxes["object"]
    lo, hi = leaves.centers_m - leaves.sizes_m / 2, leaves.centers_m + leaves.sizes_m / 2
    inside = np.all((cloud[:, None] >= lo[None] - 1e-9) & (cloud[:, None] <= hi[None] + 1e-9), axis=2)
    assert inside.any(axis=1).all()  # every point is in some box
    assert np.all(leaves.sizes_m == 0.01) and len(leaves.sizes_m) < len(cloud)
    no_object = scene_boxes(Scene(SceneConfig(table=None)))
    assert no_object == {}


def _msg(names, points):
    """A trajectory_msgs/JointTrajectory look-alike: (time_s, positions, velocities, accelerations) points."""
    def point(t, q, v, a):
        sec = int(np.floor(t))
        return SimpleNamespace(positions=q, velocities=v, accelerations=a,
                               time_from_start=SimpleNamespace(sec=sec, nanosec=int(round((t - sec) * 1e9))))
    return SimpleNamespace(joint_names=names, points=[point(*p) for p in points])


def test_trajectory_from_moveit_is_reordered_and_unwrapped():
    # MoveIt wraps continuous joints to [-pi, pi]: joint "a" passes +pi; "b" is limited and stays as it is.
    a = np.array([3.0, 3.1, -3.13, -3.03])
    b = np.array([0.1, 0.2, 0.3, 0.4])
    times = [0.0, 0.5, 1.0, 1.5]
    msg = _msg(["b", "a"], [(t, [qb, qa], [], []) for t, qa, qb in zip(times, a, b)])
    out = joint_trajectory_from_msg(msg, ["a", "b"], continuous=np.array([True, False]),
                                    start=np.array([3.0 - 2 * np.pi, 0.1]))
    assert out.joint_names == ("a", "b")
    expected_a = np.array([3.0, 3.1, 2 * np.pi - 3.13, 2 * np.pi - 3.03]) - 2 * np.pi  # continuous, near start
    np.testing.assert_allclose(out.positions[:, 0], expected_a, atol=1e-12)
    np.testing.assert_allclose(out.positions[:, 1], b)
    np.testing.assert_allclose(out.velocities[:, 1], 0.2)  # missing derivatives: finite differences
    np.testing.assert_allclose(out.times_s, times)


def test_trajectory_keeps_given_derivatives_and_drops_repeated_points():
    msg = _msg(["j"], [(0.0, [0.0], [0.0], [1.0]), (0.0, [0.0], [0.0], [1.0]), (1.0, [0.5], [1.0], [0.0])])
    out = joint_trajectory_from_msg(msg, ["j"])
    np.testing.assert_allclose(out.times_s, [0.0, 1.0])
    np.testing.assert_allclose(out.velocities[:, 0], [0.0, 1.0])
    np.testing.assert_allclose(out.accelerations[:, 0], [1.0, 0.0])


def test_bad_trajectories_fail_clearly():
    with pytest.raises(ValueError, match=r"lacks joints \['b'\]"):
        joint_trajectory_from_msg(_msg(["a"], [(0.0, [0.0], [], [])]), ["a", "b"])
    with pytest.raises(ValueError, match="no points"):
        joint_trajectory_from_msg(_msg(["a"], []), ["a"])
    with pytest.raises(ValueError, match="start at 0 and increase"):
        joint_trajectory_from_msg(_msg(["a"], [(0.0, [0.0], [], []), (0.0, [1.0], [], [])]), ["a"])


def test_pregrasp_backs_off_against_the_approach_in_the_hand_frame():
    grasp = np.eye(4)
    grasp[:3, :3] = Rotation.from_euler("xyz", [0.3, -0.5, 1.2]).as_matrix()
    grasp[:3, 3] = [0.4, -0.1, 0.2]
    axis = approach_direction((0.0, 0.0, -2.0))  # the palm normal, any length
    pre = pregrasp_pose(grasp, axis, 0.1)
    np.testing.assert_allclose(pre[:3, :3], grasp[:3, :3])
    # In the hand frame the pre-grasp sits 0.1 m along +z, the side away from the object.
    np.testing.assert_allclose(np.linalg.inv(grasp) @ pre[:, 3], [0.0, 0.0, 0.1, 1.0], atol=1e-12)
    with pytest.raises(ValueError, match="non-zero 3-vector"):
        approach_direction((0.0, 0.0, 0.0))
