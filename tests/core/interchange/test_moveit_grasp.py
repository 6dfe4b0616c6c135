"""moveit_msgs/Grasp fields from a FLASH grasp, and the message where moveit_msgs is installed."""

import importlib.util

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from flash_core.hands.spec import load_spec
from flash_core.interchange.isaac_grasp import IsaacGrasp
from flash_core.interchange.moveit_grasp import MoveItGraspConfig, moveit_grasp_fields, moveit_grasp_message
from flash_core.planning.pick import PickConfig
from flash_core.planning.srdf import BASE_LINK
from flash_core.utils.require import MissingDependencyError

SPEC = load_spec("leap")
HAS_MOVEIT_MSGS = importlib.util.find_spec("moveit_msgs") is not None


def _grasp() -> IsaacGrasp:
    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_euler("xyz", (20, -40, 75), degrees=True).as_matrix()
    pose[:3, 3] = (0.03, -0.12, 0.21)
    q = {j: 0.05 * k for k, j in enumerate(SPEC.joint_names)}
    return IsaacGrasp.from_matrix("goal/0", pose, q, dict(zip(SPEC.joint_names, SPEC.pregrasp_joints)), 0.6)


def test_fields_follow_the_grasp():
    grasp = _grasp()
    order = list(reversed(SPEC.joint_names))  # the postures follow the order asked for, by name
    fields = moveit_grasp_fields(grasp, "object", (0.0, 0.0, -2.0), order)
    assert (fields.id, fields.frame_id, fields.grasp_quality) == ("goal/0", "object", 0.6)
    np.testing.assert_allclose(fields.position_m, (0.03, -0.12, 0.21))
    xyzw = Rotation.from_matrix(grasp.matrix[:3, :3]).as_quat()
    np.testing.assert_allclose(np.abs(np.dot(fields.quaternion_xyzw, xyzw)), 1.0, atol=1e-12)
    assert fields.grasp_posture.joint_names == tuple(order)
    assert fields.grasp_posture.positions == tuple(grasp.cspace_position[j] for j in order)
    assert fields.pre_grasp_posture.positions == tuple(grasp.pregrasp_cspace_position[j] for j in order)
    assert fields.grasp_posture.time_from_start_s == PickConfig().hand_move_duration_s
    approach = fields.pre_grasp_approach
    assert (approach.frame_id, approach.direction) == ("object", (0.0, 0.0, -1.0))
    assert approach.desired_distance_m == approach.min_distance_m == PickConfig().pregrasp_distance_m
    retreat = fields.post_grasp_retreat
    assert (retreat.frame_id, retreat.direction, retreat.desired_distance_m) == (BASE_LINK, (0.0, 0.0, 1.0),
                                                                                 PickConfig().lift_m)


def test_own_distance_and_config():
    config = MoveItGraspConfig(retreat_direction=(0.0, 3.0, 4.0), retreat_frame_id="world",
                               allowed_touch_objects=("table",))
    fields = moveit_grasp_fields(_grasp(), "object", (1.0, 0.0, 0.0), SPEC.joint_names, config, 0.07)
    assert fields.pre_grasp_approach.desired_distance_m == 0.07
    assert fields.post_grasp_retreat.direction == pytest.approx((0.0, 0.6, 0.8))
    assert fields.allowed_touch_objects == ("table",)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="approach direction must be a finite non-zero 3-vector"):
        moveit_grasp_fields(_grasp(), "object", (0.0, 0.0, 0.0), SPEC.joint_names)
    with pytest.raises(ValueError, match="frame_id"):
        moveit_grasp_fields(_grasp(), "", (0.0, 0.0, 1.0), SPEC.joint_names)
    with pytest.raises(ValueError, match="pregrasp_distance_m must be finite and >= 0"):
        moveit_grasp_fields(_grasp(), "object", (0.0, 0.0, 1.0), SPEC.joint_names, pregrasp_distance_m=-0.1)
    with pytest.raises(KeyError):
        moveit_grasp_fields(_grasp(), "object", (0.0, 0.0, 1.0), ["not_a_joint"])
    with pytest.raises(ValueError, match="retreat_distance_m"):
        MoveItGraspConfig(retreat_distance_m=float("nan"))


@pytest.mark.skipif(HAS_MOVEIT_MSGS, reason="moveit_msgs is installed here: the message is built instead")
def test_missing_moveit_msgs_is_a_clear_error():
    fields = moveit_grasp_fields(_grasp(), "object", (0.0, 0.0, -1.0), SPEC.joint_names)
    with pytest.raises(MissingDependencyError, match="moveit_msgs/Grasp conversion needs the Python module "
                                                     "'moveit_msgs.msg', which is not available on this machine"):
        moveit_grasp_message(fields)


@pytest.mark.skipif(not HAS_MOVEIT_MSGS, reason="moveit_msgs is not installed on this machine (ROS 2 from PyPI has "
                                                "no moveit_msgs wheel); the plain fields are tested above")
def test_message_holds_the_fields():
    fields = moveit_grasp_fields(_grasp(), "object", (0.0, 0.0, -1.0), SPEC.joint_names)
    msg = moveit_grasp_message(fields)
    assert msg.id == fields.id and msg.grasp_pose.header.frame_id == "object"
    pose = msg.grasp_pose.pose
    assert (pose.position.x, pose.position.y, pose.position.z) == fields.position_m
    assert (pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w) == fields.quaternion_xyzw
    assert list(msg.grasp_posture.joint_names) == list(SPEC.joint_names)
    assert tuple(msg.grasp_posture.points[0].positions) == fields.grasp_posture.positions
    assert tuple(msg.pre_grasp_posture.points[0].positions) == fields.pre_grasp_posture.positions
    assert msg.grasp_posture.points[0].time_from_start.sec == 1
    assert msg.grasp_posture.points[0].time_from_start.nanosec == 500_000_000
    approach = msg.pre_grasp_approach
    assert (approach.direction.vector.z, approach.desired_distance, approach.direction.header.frame_id) == (
        -1.0, fields.pre_grasp_approach.desired_distance_m, "object")
    assert msg.post_grasp_retreat.direction.header.frame_id == BASE_LINK
    assert msg.grasp_quality == fields.grasp_quality
