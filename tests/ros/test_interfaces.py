"""flash_interfaces and the control_msgs subset: importable, upstream-identical, and a GenerateGrasp
round trip (goal, feedback, result, cancel) between two processes over real DDS on loopback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rclpy.action import ActionClient
from rclpy.node import Node

from tests.ros.conftest import spin_until

pytestmark = pytest.mark.ros

SERVER = str(Path(__file__).with_name("generate_grasp_test_server.py"))


def test_control_msgs_subset_matches_upstream_fields():
    from control_msgs.action import FollowJointTrajectory
    from control_msgs.msg import JointComponentTolerance, JointTolerance

    # Field lists of ros-controls/control_msgs (jazzy/kilted releases).
    assert FollowJointTrajectory.Goal.get_fields_and_field_types() == {
        "trajectory": "trajectory_msgs/JointTrajectory",
        "multi_dof_trajectory": "trajectory_msgs/MultiDOFJointTrajectory",
        "path_tolerance": "sequence<control_msgs/JointTolerance>",
        "component_path_tolerance": "sequence<control_msgs/JointComponentTolerance>",
        "goal_tolerance": "sequence<control_msgs/JointTolerance>",
        "component_goal_tolerance": "sequence<control_msgs/JointComponentTolerance>",
        "goal_time_tolerance": "builtin_interfaces/Duration",
    }
    assert FollowJointTrajectory.Result.get_fields_and_field_types() == {
        "error_code": "int32", "error_string": "string"}
    assert list(FollowJointTrajectory.Feedback.get_fields_and_field_types()) == [
        "header", "joint_names", "desired", "actual", "error",
        "multi_dof_joint_names", "multi_dof_desired", "multi_dof_actual", "multi_dof_error",
    ]
    assert FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED == -5
    assert list(JointTolerance.get_fields_and_field_types()) == ["name", "position", "velocity", "acceleration"]
    assert list(JointComponentTolerance.get_fields_and_field_types()) == [
        "joint_name", "component", "position", "velocity", "acceleration"]
    assert JointComponentTolerance.ROTATION == 5


def _cloud(frame: str, n: int):
    from sensor_msgs.msg import PointCloud2, PointField

    points = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    msg = PointCloud2(height=1, width=n, is_dense=True, point_step=12, row_step=12 * n)
    msg.header.frame_id = frame
    msg.fields = [PointField(name=c, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, c in enumerate("xyz")]
    msg.data = points.tobytes()
    return msg


def _start_server(spawn, steps: int, step_s: float):
    proc = spawn(SERVER, str(steps), str(step_s))
    assert proc.stdout.readline().strip() == "ready", "test server did not start"
    return proc


def test_generate_grasp_round_trip_with_feedback(spawn, ros_context):
    from flash_interfaces.action import GenerateGrasp

    _start_server(spawn, steps=4, step_s=0.05)
    node = Node("round_trip_client", context=ros_context)
    client = ActionClient(node, GenerateGrasp, "generate_grasp")
    assert spin_until(ros_context, node, client.server_is_ready, 20.0), "server not discovered"

    feedback: list[float] = []
    goal = GenerateGrasp.Goal(prompt="grasp the mug by the handle", hand_name="leap", num_grasps=3,
                              use_seed=True, seed=7, object_cloud=_cloud("camera_depth_optical_frame", 500))
    send = client.send_goal_async(goal, feedback_callback=lambda fb: feedback.append(fb.feedback.progress))
    assert spin_until(ros_context, node, send.done, 30.0)
    handle = send.result()
    assert handle.accepted
    result_future = handle.get_result_async()
    assert spin_until(ros_context, node, result_future.done, 30.0)
    result = result_future.result().result

    assert result.error_code == GenerateGrasp.Result.SUCCESS
    assert result.message == "'grasp the mug by the handle': 500 points"
    assert [g.hand_name for g in result.grasps] == ["leap"] * 3
    assert [g.score for g in result.grasps] == [3.0, 2.0, 1.0]
    assert all(g.wrist_pose.header.frame_id == "camera_depth_optical_frame" for g in result.grasps)
    assert list(result.grasps[0].joint_positions) == [7.0] * 16
    assert feedback and feedback == sorted(feedback) and feedback[-1] == pytest.approx(1.0)
    node.destroy_node()


def test_generate_grasp_cancel_and_reject(spawn, ros_context):
    from action_msgs.msg import GoalStatus

    from flash_interfaces.action import GenerateGrasp

    _start_server(spawn, steps=200, step_s=0.05)
    node = Node("cancel_client", context=ros_context)
    client = ActionClient(node, GenerateGrasp, "generate_grasp")
    assert spin_until(ros_context, node, client.server_is_ready, 20.0)

    # An empty prompt is rejected by the server's goal callback.
    send = client.send_goal_async(GenerateGrasp.Goal(prompt=""))
    assert spin_until(ros_context, node, send.done, 30.0)
    assert not send.result().accepted

    got_feedback = []
    send = client.send_goal_async(GenerateGrasp.Goal(prompt="pinch the pen", num_grasps=1),
                                  feedback_callback=got_feedback.append)
    assert spin_until(ros_context, node, send.done, 30.0)
    handle = send.result()
    assert spin_until(ros_context, node, lambda: len(got_feedback) >= 2, 30.0)
    cancel = handle.cancel_goal_async()
    assert spin_until(ros_context, node, cancel.done, 30.0)
    assert len(cancel.result().goals_canceling) == 1
    result_future = handle.get_result_async()
    # The goal would take 10 s to finish; CANCELED proves the cancel stopped it between steps.
    assert spin_until(ros_context, node, result_future.done, 30.0)
    assert result_future.result().status == GoalStatus.STATUS_CANCELED
    assert result_future.result().result.error_code == GenerateGrasp.Result.CANCELED
    node.destroy_node()
