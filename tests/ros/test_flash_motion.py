"""flash_motion: a grasp message in, a planned pick sent to FollowJointTrajectory servers in another process
over DDS (flash_motion's fake controller standing in for ros2_kortex and the LEAP driver)."""

from __future__ import annotations

import json
import queue
import threading
import time

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

pytestmark = pytest.mark.ros

ARM_ACTION = "/test_flash_motion/arm/follow_joint_trajectory"
HAND_ACTION = "/test_flash_motion/hand/follow_joint_trajectory"
HOME = [0.0, 0.26179939, 3.14159265, -2.26892803, 0.0, 0.95993109, 1.57079633]
# Grasp joints in FLASH / LEAP-driver order "0".."15" (abduction first in each finger).
GRASP_Q = [0.0, 0.8, 0.6, 0.4, 0.0, 0.8, 0.6, 0.4, 0.0, 0.8, 0.6, 0.4, 1.2, 0.5, 0.3, 0.3]


def _start_controller(spawn):
    proc = spawn("-m", "flash_motion.fake_controller", "--ros-args",
                 "-p", f"action_names:=['{ARM_ACTION}', '{HAND_ACTION}']", "-p", "time_scale:=0.0",
                 "-r", "joint_states:=/test_flash_motion/controller_states")
    assert proc.stdout.readline().strip() == "ready", "fake controller did not start"
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    return lines


def _grasp(frame="base_link"):
    from flash_interfaces.msg import Grasp

    grasp = Grasp(id="test/0", hand_name="leap", joint_names=[str(i) for i in range(16)],
                  joint_positions=GRASP_Q)
    grasp.wrist_pose.header.frame_id = frame
    grasp.wrist_pose.pose.position.x, grasp.wrist_pose.pose.position.z = 0.46, 0.165
    grasp.wrist_pose.pose.orientation.w = 1.0  # palm normal down, fingers along +x
    return grasp


def _cloud():
    from flash_ros.cloud import make_cloud

    rng = np.random.default_rng(0)
    points = rng.uniform(-1.0, 1.0, (1000, 3))
    axis = rng.integers(0, 3, 1000)
    points[np.arange(1000), axis] = np.sign(points[np.arange(1000), axis])
    return make_cloud((np.array([0.5, 0.0, 0.06]) + points * [0.03, 0.03, 0.06]).astype(np.float32), "base_link")


def _run(ros_context, grasp, timeout_s=120.0, cloud=None, parameters=()):
    """Start the pick node (extra `parameters` overrides), feed it states, cloud (default `_cloud()`) and grasp;
    return its status lines up to the outcome."""
    from sensor_msgs.msg import JointState, PointCloud2
    from std_msgs.msg import String

    from flash_interfaces.msg import Grasp
    from flash_motion.pick_node import PickNode

    cloud = _cloud() if cloud is None else cloud
    pick = PickNode(context=ros_context, parameter_overrides=[
        Parameter("arm_action", value=ARM_ACTION), Parameter("hand_action", value=HAND_ACTION), *parameters])
    feeder = Node("test_flash_motion_feeder", context=ros_context)
    status: list[str] = []
    feeder.create_subscription(String, "pick_status", lambda m: status.append(m.data), 10)
    states = feeder.create_publisher(JointState, "joint_states", 10)
    clouds = feeder.create_publisher(PointCloud2, "object_cloud", 1)
    grasps = feeder.create_publisher(Grasp, "pick_grasp", 1)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(pick)
    executor.add_node(feeder)
    try:
        for _ in range(40):  # let discovery settle and the node take the state and cloud
            states.publish(JointState(name=[f"joint_{i}" for i in range(1, 8)], position=HOME))
            clouds.publish(cloud)
            executor.spin_once(timeout_sec=0.05)
        grasps.publish(grasp)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not any(s.startswith(("succeeded", "failed")) for s in status):
            executor.spin_once(timeout_sec=0.05)
        return status
    finally:
        for node in (pick, feeder):
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()


def _goals(lines) -> list[dict]:
    """The goals the fake controller printed so far (one JSON line each)."""
    goals = []
    while not lines.empty():
        line = lines.get()
        if line.startswith("{"):
            goals.append(json.loads(line))
    return goals


def test_grasp_message_is_planned_and_executed(spawn, ros_context):
    lines = _start_controller(spawn)
    status = _run(ros_context, _grasp())
    assert status and status[-1] == "succeeded: pick executed", status
    goals = _goals(lines)
    # open_hand is empty (the hand starts open); the other five segments arrive in pick order.
    assert [g["action"] for g in goals] == [ARM_ACTION, ARM_ACTION, HAND_ACTION, ARM_ACTION, ARM_ACTION]
    arm_names = [f"joint_{i}" for i in range(1, 8)]
    assert all(g["joint_names"] == arm_names for g in goals if g["action"] == ARM_ACTION)
    hand = goals[2]
    assert hand["joint_names"] == [str(i) for i in range(16)]
    np.testing.assert_allclose(hand["final"], GRASP_Q, atol=1e-9)  # reordered there and back exactly
    np.testing.assert_allclose(goals[-1]["final"], HOME, atol=1e-9)  # retreat returns to the start
    assert all(g["points"] > 10 and g["duration_s"] > 0.3 for g in goals)


def test_grasp_in_a_frame_unknown_to_tf_fails_clearly(spawn, ros_context):
    _start_controller(spawn)
    status = _run(ros_context, _grasp(frame="camera_depth_optical_frame"), timeout_s=30.0)
    assert status and status[-1].startswith("failed") and "'camera_depth_optical_frame'" in status[-1], status
