"""The leap_hand_driver node in its own process, driving the Protocol 2.0 pty double through the
unmodified dynamixel_sdk, with this process as the client over real DDS on loopback."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.ros.conftest import spin_until

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("dynamixel_sdk")

CONFIG = Path(__file__).parents[2] / "config" / "leap_hand_driver.yaml"
JOINTS = [str(i) for i in range(16)]


def ticks(q_rad: float) -> int:
    return round((q_rad + math.pi) * 4096 / (2 * math.pi))


# --- trajectory sampling (no ROS) ---
def test_linear_trajectory_interpolates_from_the_start():
    from leap_hand_driver.trajectory import LinearTrajectory

    traj = LinearTrajectory(np.zeros(2), [1.0, 2.0], [[1.0, -1.0], [3.0, -1.0]])
    np.testing.assert_allclose(traj.sample(0.5), [0.5, -0.5])
    np.testing.assert_allclose(traj.sample(1.5), [2.0, -1.0])
    np.testing.assert_allclose(traj.sample(9.0), [3.0, -1.0])
    assert traj.duration_s == 2.0
    with pytest.raises(ValueError, match="increasing"):
        LinearTrajectory(np.zeros(2), [1.0, 1.0], [[0, 0], [1, 1]])


# --- the node ---
@pytest.fixture(scope="module")
def double():
    from flash_core.motors.dynamixel_double import DynamixelDouble

    with DynamixelDouble(range(16)) as d:
        yield d


@pytest.fixture(scope="module")
def driver(ros_env, double):
    proc = subprocess.Popen(
        [sys.executable, "-m", "leap_hand_driver.driver_node", "--ros-args", "--params-file", str(CONFIG),
         "-p", f"port:={double.port}", "-p", "rate_hz:=100.0"],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class Client:
    def __init__(self, context):
        from control_msgs.action import FollowJointTrajectory
        from rclpy.action import ActionClient
        from rclpy.node import Node
        from sensor_msgs.msg import JointState

        from flash_interfaces.msg import HandMotorStatus

        self.context = context
        self.node = Node("leap_driver_test_client", context=context)
        self.joint_states: list = []
        self.statuses: list = []
        self.node.create_subscription(JointState, "joint_states", self.joint_states.append, 10)
        self.node.create_subscription(HandMotorStatus, "hand_status", self.statuses.append, 10)
        self.cmd_leap = self.node.create_publisher(JointState, "cmd_leap", 10)
        self.cmd_allegro = self.node.create_publisher(JointState, "cmd_allegro", 10)
        self.action = ActionClient(self.node, FollowJointTrajectory, "follow_joint_trajectory")

    def spin_until(self, predicate, timeout_s: float) -> bool:
        return spin_until(self.context, self.node, predicate, timeout_s)

    def fresh(self, topic: list, timeout_s: float = 5.0):
        n = len(topic)
        assert self.spin_until(lambda: len(topic) > n, timeout_s), "no new message"
        return topic[-1]


@pytest.fixture(scope="module")
def client(ros_env, driver):
    context = rclpy.Context()
    rclpy.init(context=context)
    c = Client(context)
    if not c.spin_until(lambda: c.joint_states, 30.0):
        driver.kill()
        pytest.fail(f"driver published no joint_states; its output:\n{driver.stdout.read()}")
    yield c
    c.node.destroy_node()
    context.try_shutdown()


def motors_reached(double, goal_ticks: dict[int, int], tol: int = 3) -> bool:
    with double.lock:
        return all(abs(double.motors[i].get("Present_Position") - t) <= tol for i, t in goal_ticks.items())


def test_joint_states_are_published(client, double):
    msg = client.fresh(client.joint_states)
    assert list(msg.name) == JOINTS
    assert len(msg.position) == len(msg.velocity) == len(msg.effort) == 16
    with double.lock:
        expected = [double.motors[i].get("Present_Position") * 2 * math.pi / 4096 - math.pi for i in range(16)]
    np.testing.assert_allclose(msg.position, expected, atol=0.05)
    assert {m.get("Operating_Mode") for m in double.motors.values()} == {5}


def test_cmd_leap_moves_the_simulated_motors(client, double):
    from sensor_msgs.msg import JointState

    client.cmd_leap.publish(JointState(position=[0.4] * 16))
    assert client.spin_until(lambda: motors_reached(double, {i: ticks(0.4) for i in range(16)}), 5.0)
    msg = client.fresh(client.joint_states)
    np.testing.assert_allclose(msg.position, 0.4, atol=6e-3)  # within the 3 ticks waited for
    # By name: only the named joints change; an out-of-range angle is clamped to the joint limit.
    client.cmd_leap.publish(JointState(name=["5", "12"], position=[0.9, -3.0]))
    assert client.spin_until(lambda: motors_reached(double, {5: ticks(0.9), 12: ticks(-0.349), 4: ticks(0.4)}), 5.0)


def test_cmd_allegro_maps_joint_for_joint(client, double):
    from sensor_msgs.msg import JointState

    allegro = [0.1, 0.5, 0.6, 0.7] * 3 + [0.9, 0.3, 0.4, 0.5]
    client.cmd_allegro.publish(JointState(position=allegro))
    assert client.spin_until(lambda: motors_reached(double, {i: ticks(q) for i, q in enumerate(allegro)}), 5.0)


def test_services_return_the_present_state(client):
    from flash_interfaces.srv import LeapPosition, LeapPosVelEff

    for srv_type, name in ((LeapPosition, "leap_position"), (LeapPosVelEff, "leap_pos_vel_eff")):
        srv = client.node.create_client(srv_type, name)
        assert client.spin_until(srv.service_is_ready, 10.0), f"{name} not available"
        future = srv.call_async(srv_type.Request())
        assert client.spin_until(future.done, 5.0)
        response = future.result()
        latest = client.fresh(client.joint_states)
        assert len(response.position) == 16
        np.testing.assert_allclose(response.position, latest.position, atol=0.01)
        if name == "leap_pos_vel_eff":
            assert len(response.velocity) == len(response.effort) == 16


def _trajectory_goal(joints, points):
    from builtin_interfaces.msg import Duration
    from control_msgs.action import FollowJointTrajectory
    from trajectory_msgs.msg import JointTrajectoryPoint

    goal = FollowJointTrajectory.Goal()
    goal.trajectory.joint_names = joints
    for t, q in points:
        goal.trajectory.points.append(
            JointTrajectoryPoint(positions=q, time_from_start=Duration(sec=int(t), nanosec=int(t % 1 * 1e9))))
    return goal


def _run_goal(client, goal):
    assert client.spin_until(client.action.server_is_ready, 10.0), "action server not discovered"
    send = client.action.send_goal_async(goal)
    assert client.spin_until(send.done, 5.0)
    return send.result()


def test_follow_joint_trajectory_succeeds(client, double):
    from control_msgs.action import FollowJointTrajectory
    from control_msgs.msg import JointTolerance

    goal = _trajectory_goal(["1", "2"], [(0.3, [0.6, 0.2]), (0.6, [1.2, 0.8])])
    goal.goal_tolerance = [JointTolerance(name="1", position=0.02), JointTolerance(name="2", position=0.02)]
    goal.goal_time_tolerance.sec = 2
    handle = _run_goal(client, goal)
    assert handle.accepted
    result = handle.get_result_async()
    assert client.spin_until(result.done, 10.0)
    assert result.result().result.error_code == FollowJointTrajectory.Result.SUCCESSFUL
    assert motors_reached(double, {1: ticks(1.2), 2: ticks(0.8)}, tol=15)


def test_follow_joint_trajectory_cancel_and_reject(client):
    from action_msgs.msg import GoalStatus

    assert not _run_goal(client, _trajectory_goal(["no_such_joint"], [(1.0, [0.0])])).accepted
    assert not _run_goal(client, _trajectory_goal(["3", "3"], [(1.0, [0.0, 0.0])])).accepted
    handle = _run_goal(client, _trajectory_goal(["6"], [(20.0, [1.5])]))
    assert handle.accepted
    client.spin_until(lambda: False, 0.3)
    cancel = handle.cancel_goal_async()
    assert client.spin_until(cancel.done, 5.0)
    result = handle.get_result_async()
    # The trajectory lasts 20 s; CANCELED within a few seconds shows the cancel stopped it.
    assert client.spin_until(result.done, 5.0)
    assert result.result().status == GoalStatus.STATUS_CANCELED


def test_newer_trajectory_preempts_the_running_one(client, double):
    from action_msgs.msg import GoalStatus
    from control_msgs.action import FollowJointTrajectory

    first = _run_goal(client, _trajectory_goal(["9"], [(20.0, [1.5])]))
    client.spin_until(lambda: False, 0.2)
    second = _run_goal(client, _trajectory_goal(["9", "10"], [(0.3, [0.5, 0.6])]))
    first_result, second_result = first.get_result_async(), second.get_result_async()
    assert client.spin_until(lambda: first_result.done() and second_result.done(), 5.0)
    assert first_result.result().status == GoalStatus.STATUS_ABORTED
    assert second_result.result().result.error_code == FollowJointTrajectory.Result.SUCCESSFUL
    assert client.spin_until(lambda: motors_reached(double, {9: ticks(0.5), 10: ticks(0.6)}), 5.0)


def test_serial_faults_are_reported_and_survived(client, double, driver):
    double.set_silent(3)
    double.corrupt_next_replies(2)
    assert client.spin_until(lambda: client.statuses and not client.statuses[-1].responding[3], 10.0)
    status = client.statuses[-1]
    assert not status.ok and "motor 3 not responding" in status.message
    assert list(status.responding).count(False) == 1
    client.fresh(client.joint_states)  # still publishing
    double.set_hardware_error(7, 0b0010_0000)
    assert client.spin_until(lambda: client.statuses[-1].hardware_errors[7] == "overload", 5.0)
    assert client.statuses[-1].hardware_error_status[7] == 0b0010_0000
    double.set_silent(3, False)
    double.set_hardware_error(7, 0)
    # Non-responding motors are probed once a second; the status comes back clean.
    assert client.spin_until(lambda: client.statuses[-1].ok, 10.0)
    assert client.statuses[-1].crc_errors >= 1 and client.statuses[-1].timeouts >= 1
    assert driver.poll() is None


def test_shutdown_turns_torque_off(client, double, driver):
    assert {m.get("Torque_Enable") for m in double.motors.values()} == {1}
    os.killpg(driver.pid, signal.SIGINT)
    driver.wait(timeout=10.0)
    assert {m.get("Torque_Enable") for m in double.motors.values()} == {0}


def test_fake_hardware_node_without_a_port(spawn, client):
    """use_fake_hardware: simulated motors in memory; in its own namespace beside the driver above."""
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import JointState

    proc = spawn("-m", "leap_hand_driver.driver_node", "--ros-args", "-r", "__ns:=/fake",
                 "-p", "use_fake_hardware:=true", "-p", "port:=/dev/does-not-exist")
    states: list = []
    client.node.create_subscription(JointState, "/fake/joint_states", states.append, QoSProfile(depth=10))
    command = client.node.create_publisher(JointState, "/fake/cmd_leap", 10)
    assert client.spin_until(lambda: states, 30.0), "fake-hardware node published nothing"
    command.publish(JointState(position=[0.7] * 16))
    assert client.spin_until(lambda: np.allclose(states[-1].position, 0.7, atol=5e-3), 5.0)
    assert proc.poll() is None


def test_urdf_joint_naming_publishes_and_accepts_moveit_names(spawn, client):
    """joint_naming:=urdf: joint_states carry gen3_leap.urdf's names; commands by either naming move the joint
    that the hand data file maps them to."""
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import JointState

    from flash_core.hands.spec import load_spec

    spec = load_spec("leap")
    urdf_names = ["leap_" + m for m in spec.model_joint_names]
    spawn("-m", "leap_hand_driver.driver_node", "--ros-args", "-r", "__ns:=/urdf_named",
          "-p", "use_fake_hardware:=true", "-p", "joint_naming:=urdf")
    states: list = []
    client.node.create_subscription(JointState, "/urdf_named/joint_states", states.append, QoSProfile(depth=10))
    command = client.node.create_publisher(JointState, "/urdf_named/cmd_leap", 10)
    assert client.spin_until(lambda: states, 30.0), "fake-hardware node published nothing"
    assert list(states[-1].name) == urdf_names
    command.publish(JointState(name=[urdf_names[5], "9"], position=[0.6, 0.4]))
    reached = lambda: np.allclose(np.asarray(states[-1].position)[[5, 9]], [0.6, 0.4], atol=5e-3)  # noqa: E731
    assert client.spin_until(reached, 5.0)
    assert np.allclose(np.delete(np.asarray(states[-1].position), [5, 9]), 0.0, atol=5e-3)
