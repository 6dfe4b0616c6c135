"""flash_motion: a Pick goal in, a planned pick sent to FollowJointTrajectory servers in another process
over DDS (flash_motion's fake controller standing in for ros2_kortex and the LEAP driver)."""

from __future__ import annotations

import json
import queue
import threading

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
# The hand's close target: the grasp and 10 % beyond, away from the open hand (PickConfig.squeeze_fraction).
SQUEEZED_Q = [1.1 * q for q in GRASP_Q]


def _start_controller(spawn, time_scale=0.0):
    proc = spawn("-m", "flash_motion.fake_controller", "--ros-args",
                 "-p", f"action_names:=['{ARM_ACTION}', '{HAND_ACTION}']", "-p", f"time_scale:={time_scale}",
                 "-r", "joint_states:=/test_flash_motion/controller_states")
    assert proc.stdout.readline().strip() == "ready", "fake controller did not start"
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
            print(f"[fake controller] {line}", end="", flush=True)  # in the test's captured output on a failure

    threading.Thread(target=read, daemon=True).start()
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


def _run(ros_context, grasp, timeout_s=120.0, cloud=None, parameters=(), obstacles=None, cancel_at=None,
         goal=None, generated=None):
    """Start the pick node (extra `parameters` overrides), feed it joint states and the object cloud (default
    `_cloud()`, on its topic), send a Pick goal for `grasp` (obstacle cloud in the goal when given; or the given
    `goal`) and return the feedback stages followed by "succeeded: <reason>" / "failed: <reason>"; the result is
    in `_run.result`. cancel_at: a stage at whose feedback the goal is cancelled. generated: a GraspSet published
    on generated_grasps first, as the grasp server does."""
    from rclpy.action import ActionClient
    from sensor_msgs.msg import JointState, PointCloud2

    from flash_interfaces.action import Pick
    from flash_interfaces.msg import GraspSet
    from flash_motion.pick_node import PickNode
    from flash_ros.qos import LATCHED

    cloud = _cloud() if cloud is None else cloud
    pick = PickNode(context=ros_context, parameter_overrides=[
        Parameter("arm_action", value=ARM_ACTION), Parameter("hand_action", value=HAND_ACTION), *parameters])
    feeder = Node("test_flash_motion_feeder", context=ros_context)
    status: list[str] = []
    states = feeder.create_publisher(JointState, "joint_states", 10)
    clouds = feeder.create_publisher(PointCloud2, "object_cloud", 1)
    results = feeder.create_publisher(GraspSet, "generated_grasps", LATCHED)
    client = ActionClient(feeder, Pick, "pick")
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(pick)
    executor.add_node(feeder)
    handles = []

    def on_feedback(msg) -> None:
        status.append(msg.feedback.stage)
        if msg.feedback.stage == cancel_at and handles:
            handles[0].cancel_goal_async()

    try:
        if generated is not None:
            results.publish(generated)
        for _ in range(40):  # let discovery settle and the node take the state and cloud
            states.publish(JointState(name=[f"joint_{i}" for i in range(1, 8)], position=HOME))
            clouds.publish(cloud)
            executor.spin_once(timeout_sec=0.05)
        assert client.wait_for_server(timeout_sec=5.0), "no pick action server"
        goal = Pick.Goal(grasps=[grasp]) if goal is None else goal
        if obstacles is not None:
            goal.obstacle_cloud = obstacles
        sent = client.send_goal_async(goal, feedback_callback=on_feedback)
        executor.spin_until_future_complete(sent, timeout_sec=10.0)
        handles.append(sent.result())
        assert handles[0].accepted
        result = handles[0].get_result_async()
        executor.spin_until_future_complete(result, timeout_sec=timeout_s)
        assert result.done(), f"no Pick result within {timeout_s} s; feedback {status}"
        _run.result = result.result().result
        status.append(f"{'succeeded' if _run.result.success else 'failed'}: {_run.result.reason}")
        return status
    finally:
        client.destroy()
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
    np.testing.assert_allclose(hand["final"], SQUEEZED_Q, atol=1e-9)  # reordered there and back exactly
    np.testing.assert_allclose(goals[-1]["final"], HOME, atol=1e-9)  # retreat returns to the start
    assert all(g["points"] > 10 and g["duration_s"] > 0.3 for g in goals)


def test_a_lost_result_response_is_asked_for_again(spawn, ros_context, monkeypatch):
    """The first result request of every segment is dropped, as DDS drops a response sent before the requester's
    reply reader is matched: the node asks again and the pick completes."""
    from rclpy.action.client import ClientGoalHandle
    from rclpy.task import Future

    asked: dict[bytes, int] = {}
    real = ClientGoalHandle.get_result_async

    def drop_first(handle):
        if handle._action_client._action_name not in (ARM_ACTION, HAND_ACTION):  # the test's own Pick client
            return real(handle)
        key = bytes(handle.goal_id.uuid)
        asked[key] = asked.get(key, 0) + 1
        return Future() if asked[key] == 1 else real(handle)

    monkeypatch.setattr(ClientGoalHandle, "get_result_async", drop_first)
    lines = _start_controller(spawn)
    status = _run(ros_context, _grasp())
    assert status[-1] == "succeeded: pick executed", status
    assert len(_goals(lines)) == 5 and len(asked) == 5 and all(n >= 2 for n in asked.values()), asked


def _without_goal_answers(monkeypatch, send: bool) -> list[str]:
    """The controllers' first goal (arm and hand) gets no answer: sent but the answer dropped (send=True), as DDS
    drops a response sent before the server has matched the requester's reply reader, or never sent. Returns the
    actions whose answer was withheld."""
    from rclpy.action import ActionClient
    from rclpy.task import Future

    withheld: list[str] = []
    real = ActionClient.send_goal_async

    def withhold_first(client, goal, **kwargs):
        name = client._action_name
        if name not in (ARM_ACTION, HAND_ACTION) or name in withheld:
            return real(client, goal, **kwargs)
        withheld.append(name)
        if send:
            real(client, goal, **kwargs)
        return Future()

    monkeypatch.setattr(ActionClient, "send_goal_async", withhold_first)
    return withheld


def test_a_goal_whose_answer_is_lost_is_followed_by_its_id(spawn, ros_context, monkeypatch):
    withheld = _without_goal_answers(monkeypatch, send=True)
    lines = _start_controller(spawn)
    status = _run(ros_context, _grasp(), parameters=[Parameter("controller_timeout_s", value=2.0)])
    assert status[-1] == "succeeded: pick executed", status
    assert sorted(withheld) == sorted([ARM_ACTION, HAND_ACTION])
    assert len(_goals(lines)) == 5  # each segment's goal reached the controller once


def test_a_goal_the_controller_never_got_fails_the_pick(spawn, ros_context, monkeypatch):
    _without_goal_answers(monkeypatch, send=False)
    lines = _start_controller(spawn)
    status = _run(ros_context, _grasp(), timeout_s=30.0, parameters=[Parameter("controller_timeout_s", value=2.0)])
    assert status[-1] == (f"failed: to_pregrasp: the controller on {ARM_ACTION} did not answer the goal and does "
                          "not know it"), status
    assert _goals(lines) == []


def test_a_segment_without_result_in_time_is_cancelled_and_fails(spawn, ros_context):
    """A controller 50 x slower than the trajectory: the first segment is cancelled after 1.2 x its duration +
    0.2 s, and the goal fails with that reason instead of waiting."""
    _start_controller(spawn, time_scale=50.0)
    status = _run(ros_context, _grasp(), timeout_s=30.0, parameters=[Parameter("execution_margin_s", value=0.2)])
    assert status[-1].startswith("failed: to_pregrasp: no result from the controller within"), status
    assert status[-1].endswith("cancelled"), status
    duration_s = float(status[-1].split("segment's ")[1].split(" s")[0])
    assert _run.result.stage_times_s[-1] == pytest.approx(1.2 * duration_s + 0.2, abs=1.0)


def test_grasp_in_a_frame_unknown_to_tf_fails_clearly(spawn, ros_context):
    _start_controller(spawn)
    status = _run(ros_context, _grasp(frame="camera_depth_optical_frame"), timeout_s=30.0)
    assert status and status[-1].startswith("failed") and "'camera_depth_optical_frame'" in status[-1], status
