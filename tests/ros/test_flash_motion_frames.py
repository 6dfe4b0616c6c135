"""flash_motion with clouds and grasps in a camera frame: converted to base_link through TF (a static
transform publisher in another process), checked against the composition and the robot's forward
kinematics; frames TF does not know are reported and the node keeps serving."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.parameter import Parameter

from tests.ros.conftest import spin_until
from tests.ros.test_flash_motion import ARM_ACTION, HAND_ACTION, HOME, _cloud, _goals, _grasp, _run, _start_controller
from tests.ros.test_frames import CAMERA_LINK, CAMERA_OPTICAL, matrix, start_static_publisher

pytestmark = pytest.mark.ros

CAMERA = "camera_optical"
BASE_FROM_CAMERA = matrix(CAMERA_LINK) @ matrix(CAMERA_OPTICAL)


def _in_camera(grasp_in_base):
    """The same grasp, its wrist pose expressed in the camera frame."""
    from flash_ros.frames import matrix_to_pose, pose_to_matrix

    grasp = _grasp(frame=CAMERA)
    camera_from_palm = np.linalg.inv(BASE_FROM_CAMERA) @ pose_to_matrix(grasp_in_base.wrist_pose.pose)
    grasp.wrist_pose.pose = matrix_to_pose(camera_from_palm)
    return grasp


def _cloud_in_camera():
    from flash_core.geometry.rigid import transform_points
    from flash_ros.cloud import make_cloud, read_points

    base_points = read_points(_cloud())["xyz"].astype(float)
    return make_cloud(transform_points(np.linalg.inv(BASE_FROM_CAMERA), base_points).astype(np.float32), CAMERA)


def test_cloud_and_grasp_in_a_camera_frame_are_planned_in_base_link(spawn, ros_context):
    from flash_core.planning import RobotModel
    from flash_ros.frames import pose_to_matrix

    start_static_publisher(spawn, CAMERA_LINK, CAMERA_OPTICAL)
    lines = _start_controller(spawn)
    grasp_in_base = _grasp()
    status = _run(ros_context, _in_camera(grasp_in_base), cloud=_cloud_in_camera())
    assert status and status[-1] == "succeeded: pick executed", status
    goals = _goals(lines)
    assert [g["action"] for g in goals] == [ARM_ACTION, ARM_ACTION, HAND_ACTION, ARM_ACTION, ARM_ACTION]
    # The approach ends with the palm where the base_link grasp puts it.
    robot = RobotModel()
    palm = robot.frame_pose(robot.full_q(np.array(goals[1]["final"])), robot.hand_root_frame)
    np.testing.assert_allclose(palm, pose_to_matrix(grasp_in_base.wrist_pose.pose), atol=2e-3)


def test_cloud_is_converted_and_unknown_frames_are_reported(spawn, ros_context):
    from sensor_msgs.msg import JointState

    from flash_core.geometry.frame_tree import FrameError
    from flash_motion.pick_node import PickNode
    from flash_ros.cloud import make_cloud, read_points

    start_static_publisher(spawn, CAMERA_LINK, CAMERA_OPTICAL)
    pick = PickNode(context=ros_context, parameter_overrides=[Parameter("transform_timeout_s", value=0.1)])
    try:
        camera_header = _cloud_in_camera().header

        def known() -> bool:
            try:
                pick.base_from(camera_header)
            except FrameError:
                return False
            return True

        assert spin_until(ros_context, pick, known, 15.0), "the camera transform did not arrive"
        pick._on_cloud("object", _cloud_in_camera())
        np.testing.assert_allclose(pick._clouds["object"], read_points(_cloud())["xyz"], atol=1e-5)

        nowhere = make_cloud(np.ones((10, 3), dtype=np.float32), "nowhere")
        pick._on_cloud("object", nowhere)  # reported and dropped: the last good cloud stays
        np.testing.assert_allclose(pick._clouds["object"], read_points(_cloud())["xyz"], atol=1e-5)
        pick._on_joint_states(JointState(name=[f"joint_{i}" for i in range(1, 8)], position=HOME))
        with pytest.raises(FrameError, match="'nowhere'"):
            pick.plan_pick([_grasp(frame="nowhere")])
        np.testing.assert_allclose(pick.base_from(camera_header), BASE_FROM_CAMERA, atol=1e-9)

        # An empty cloud is perception saying "none now": obstacles cleared, not an error, in any frame.
        pick._on_cloud("obstacles", _cloud_in_camera())
        assert len(pick._clouds["obstacles"]) == len(read_points(_cloud())["xyz"])
        pick._on_cloud("obstacles", make_cloud(np.zeros((0, 3), dtype=np.float32), CAMERA))
        assert pick._clouds["obstacles"].shape == (0, 3)
    finally:
        pick.destroy_node()
