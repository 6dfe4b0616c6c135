"""The Pick action over DDS: the pick node, the arm's FollowJointTrajectory (flash_motion's fake controller, in
real time for the cancel) and the real `leap_hand_driver` on fake hardware, each in its own process."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.parameter import Parameter

from tests.ros.test_flash_motion import ARM_ACTION, _cloud, _goals, _grasp, _run, _start_controller

pytestmark = pytest.mark.ros

DRIVER_NS = "/test_pick_action_leap"
ALL_STAGES = ["planning", "to_pregrasp", "approach", "close_hand", "lift", "retreat"]


def _start_driver(spawn, ros_context):
    """The LEAP driver on fake hardware; returns the pick node's parameter naming its action once it serves."""
    from control_msgs.action import FollowJointTrajectory
    from rclpy.action import ActionClient
    from rclpy.node import Node

    spawn("-m", "leap_hand_driver.driver_node", "--ros-args", "-r", f"__ns:={DRIVER_NS}",
          "-p", "use_fake_hardware:=true")
    probe = Node("test_pick_action_probe", context=ros_context)
    try:
        client = ActionClient(probe, FollowJointTrajectory, f"{DRIVER_NS}/follow_joint_trajectory")
        assert client.wait_for_server(timeout_sec=20.0), "leap_hand_driver did not serve follow_joint_trajectory"
        client.destroy()
    finally:
        probe.destroy_node()
    return [Parameter("hand_action", value=f"{DRIVER_NS}/follow_joint_trajectory")]


def test_pick_goal_feedback_and_stage_times_with_the_leap_driver(spawn, ros_context):
    lines = _start_controller(spawn)
    grasp = _grasp()
    grasp.approach_direction.z, grasp.pregrasp_distance_m = -1.0, 0.06  # palm normal down, 6 cm approach
    status = _run(ros_context, grasp, parameters=_start_driver(spawn, ros_context))
    result = _run.result
    assert status[-1] == "succeeded: pick executed", status
    assert status[:-1] == ALL_STAGES and list(result.stage_names) == ALL_STAGES
    assert result.grasp_index == 0 and all(t > 0.0 for t in result.stage_times_s)
    assert result.stage_times_s[ALL_STAGES.index("close_hand")] > 1.0  # the real driver plays the close in time
    goals = _goals(lines)
    assert [g["action"] for g in goals] == [ARM_ACTION] * 4  # the hand went to the driver, not the fake
    from flash_core.planning import RobotModel

    robot = RobotModel()
    palm = robot.frame_pose(robot.full_q(np.array(goals[0]["final"])), robot.hand_root_frame)  # the pre-grasp
    np.testing.assert_allclose(palm[:3, 3], (0.46, 0.0, 0.165 + 0.06), atol=2e-3)  # the grasp's 6 cm, not 10


def test_obstacle_in_the_goal_scene_blocks_the_grasp(spawn, ros_context):
    from flash_ros.cloud import make_cloud

    _start_controller(spawn)
    # a second box where the fingers close: every plan for this grasp must be refused
    points = np.asarray(_cloud_points()) + [0.07, 0.0, 0.0]
    status = _run(ros_context, _grasp(), obstacles=make_cloud(points.astype(np.float32), "base_link"),
                  timeout_s=60.0)
    assert status[-1].startswith("failed: no feasible plan") and "obstacles" in status[-1], status
    assert _run.result.grasp_index == -1 and list(_run.result.stage_names) == ["planning"]


def test_cancel_stops_the_pick_mid_segment(spawn, ros_context):
    lines = _start_controller(spawn, time_scale=1.0)
    status = _run(ros_context, _grasp(), cancel_at="to_pregrasp", timeout_s=30.0)
    assert status[-1].startswith("failed: canceled during to_pregrasp"), status
    assert "approach" not in status  # nothing after the cancelled segment was sent
    assert _goals(lines) == []  # the arm's goal was cancelled before it finished


def test_grasps_by_index_into_the_last_generate_grasp_result(spawn, ros_context):
    from flash_interfaces.action import Pick
    from flash_interfaces.msg import GraspSet

    _start_controller(spawn)
    unreachable = _grasp()
    unreachable.wrist_pose.pose.position.x = 2.0  # out of the arm's reach
    generated = GraspSet(prompt="grasp the box", grasps=[_grasp(), unreachable, _grasp()])
    generated.header.frame_id = "base_link"
    status = _run(ros_context, None, goal=Pick.Goal(grasp_indices=[1, 2]), generated=generated)
    assert status[-1] == "succeeded: pick executed", status
    assert _run.result.grasp_index == 2  # index 1 had no plan: the result names the result's own index
    for goal, reason in ((Pick.Goal(grasp_indices=[3]), "out of range"),
                         (Pick.Goal(grasps=[_grasp()], grasp_indices=[0]), "not both"),
                         (Pick.Goal(), "no grasps and no grasp_indices")):
        status = _run(ros_context, None, goal=goal, generated=generated)
        assert status[-1].startswith("failed") and reason in status[-1], status


def test_table_plane_in_the_goal_is_an_obstacle(spawn, ros_context):
    from flash_interfaces.action import Pick

    _start_controller(spawn)
    goal = Pick.Goal(grasps=[_grasp()])  # the palm at z = 0.165 over the default table (top at z = 0)
    goal.table_plane.header.frame_id = "base_link"
    goal.table_plane.pose.position.z = 0.15  # a table top raised to the fingers: nothing can reach the grasp
    goal.table_plane.pose.orientation.w = 1.0
    status = _run(ros_context, None, goal=goal, timeout_s=60.0)
    assert status[-1].startswith("failed: no feasible plan") and "table" in status[-1], status
    goal.table_plane.pose.position.z = -0.01  # a measured table 1 cm low: the grasp is fine again
    assert _run(ros_context, None, goal=goal)[-1] == "succeeded: pick executed"


def _cloud_points():
    from flash_ros.cloud import read_points

    return read_points(_cloud())["xyz"].astype(float)


def test_cancel_while_the_leap_driver_closes_the_hand(spawn, ros_context):
    lines = _start_controller(spawn)
    status = _run(ros_context, _grasp(), parameters=_start_driver(spawn, ros_context), cancel_at="close_hand",
                  timeout_s=30.0)
    assert status[-1].startswith("failed: canceled during close_hand"), status
    assert "canceled at t=" in status[-1], status  # the driver stopped the 1.5 s close part way
    assert [g["action"] for g in _goals(lines)] == [ARM_ACTION] * 2  # to_pregrasp, approach; no lift
