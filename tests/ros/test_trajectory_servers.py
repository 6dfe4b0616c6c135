"""flash_sim's FollowJointTrajectory servers against a small plant: following, rejecting, cancelling, and stopping
when the goal's client is killed (SIGTERM and SIGKILL).

The plant (a subprocess) integrates /isaac_joint_commands into /isaac_joint_states with a first-order lag and
publishes /clock; the servers run with use_sim_time, as in the simulated graph. Every process of this module reads
config/fastdds_sim.xml, so a SIGKILLed client leaves the DDS graph after 2 s instead of Fast DDS's 20 s.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.ros.conftest import spin_until

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "sim_trajectory_servers.yaml"
LEASE_PROFILE = REPO / "config" / "fastdds_sim.xml"
ARM_ACTION = "/joint_trajectory_controller/follow_joint_trajectory"
HAND_ACTION = "/leap_hand/follow_joint_trajectory"
ARM = [f"joint_{i}" for i in range(1, 8)]
HAND = [str(i) for i in range(16)]

PLANT = f"""
import math, rclpy, numpy as np
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
NAMES = {ARM + HAND!r}
DT_S, TAU_S = 0.01, 0.03  # 100 Hz, first-order lag of a stiff position servo

class Plant(Node):
    def __init__(self):
        super().__init__("test_plant")
        self.q, self.t_ns = np.zeros(len(NAMES)), 0
        self.target = self.q.copy()
        self.clock = self.create_publisher(Clock, "/clock", 10)
        self.states = self.create_publisher(JointState, "/isaac_joint_states", 10)
        self.create_subscription(JointState, "/isaac_joint_commands", self.on_command, 100)
        self.create_timer(DT_S, self.step)

    def on_command(self, msg):
        for name, position in zip(msg.name, msg.position):
            self.target[NAMES.index(name)] = position

    def step(self):
        previous = self.q.copy()
        self.q += (self.target - self.q) * (1 - math.exp(-DT_S / TAU_S))
        self.t_ns += int(DT_S * 1e9)
        stamp = rclpy.time.Time(nanoseconds=self.t_ns).to_msg()
        self.clock.publish(Clock(clock=stamp))
        msg = JointState(name=NAMES, position=self.q.tolist(), velocity=((self.q - previous) / DT_S).tolist())
        msg.header.stamp = stamp
        self.states.publish(msg)

rclpy.init()
try:
    rclpy.spin(Plant())
except BaseException:
    pass
"""

# A goal client in its own process: sends a long arm goal, says so, and waits for the result until it is killed.
CLIENT = f"""
import rclpy
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from rclpy.action import ActionClient
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectoryPoint
rclpy.init()
node = Node("doomed_client")
client = ActionClient(node, FollowJointTrajectory, {ARM_ACTION!r})
client.wait_for_server(timeout_sec=10.0)
goal = FollowJointTrajectory.Goal()
goal.trajectory.joint_names = {ARM!r}
goal.trajectory.points = [JointTrajectoryPoint(positions=[-0.8] * 7, time_from_start=Duration(sec=30))]
future = client.send_goal_async(goal)
rclpy.spin_until_future_complete(node, future)
print("accepted" if future.result().accepted else "rejected", flush=True)
try:
    rclpy.spin_until_future_complete(node, future.result().get_result_async())
except BaseException:
    pass
"""


class Observer:
    """The test's node: action clients, and every command / joint state with its arrival time (monotonic s)."""

    def __init__(self, context):
        from control_msgs.action import FollowJointTrajectory
        from rclpy.action import ActionClient
        from rclpy.node import Node
        from sensor_msgs.msg import JointState

        self.context = context
        self.node = Node("trajectory_servers_test", context=context)
        self.commands: list[tuple[float, object]] = []
        self.states: list = []
        self.joint_states: list = []
        self.node.create_subscription(JointState, "/isaac_joint_commands",
                                      lambda m: self.commands.append((time.monotonic(), m)), 1000)
        self.node.create_subscription(JointState, "/isaac_joint_states", self.states.append, 10)
        self.node.create_subscription(JointState, "/joint_states", self.joint_states.append, 10)
        self.bad_states = self.node.create_publisher(JointState, "/isaac_joint_states", 10)
        self.arm = ActionClient(self.node, FollowJointTrajectory, ARM_ACTION)
        self.hand = ActionClient(self.node, FollowJointTrajectory, HAND_ACTION)

    def spin_until(self, predicate, timeout_s: float) -> bool:
        return spin_until(self.context, self.node, predicate, timeout_s)

    def send(self, client, names, points, feedback=None, path_tolerance=()):
        """points: (time_s, positions); path_tolerance: (joint, rad); returns the goal handle (accepted or not)."""
        from builtin_interfaces.msg import Duration
        from control_msgs.action import FollowJointTrajectory
        from control_msgs.msg import JointTolerance
        from trajectory_msgs.msg import JointTrajectoryPoint

        goal = FollowJointTrajectory.Goal()
        goal.trajectory.joint_names = list(names)
        goal.trajectory.points = [
            JointTrajectoryPoint(positions=list(map(float, q)),
                                 time_from_start=Duration(sec=int(t), nanosec=int(round(t % 1 * 1e9))))
            for t, q in points]
        goal.path_tolerance = [JointTolerance(name=n, position=p) for n, p in path_tolerance]
        future = client.send_goal_async(goal, feedback_callback=feedback)
        assert self.spin_until(future.done, 30.0), "no answer to the goal"
        return future.result()

    def result(self, handle, timeout_s: float):
        future = handle.get_result_async()
        assert self.spin_until(future.done, timeout_s), "no result"
        return future.result()

    def measured(self, names) -> np.ndarray:
        """The newest plant state that has all `names` (the test also publishes malformed states on the topic, and
        on a loaded machine the first state can arrive after the action servers answer)."""
        def newest():
            return next((m for m in reversed(self.states)
                         if set(names) <= set(m.name) and len(m.position) == len(m.name)), None)

        assert self.spin_until(lambda: newest() is not None, 20.0), f"no joint state with {names}"
        msg = newest()
        return np.array([msg.position[list(msg.name).index(n)] for n in names])

    def wait_for_silence(self, quiet_s: float, timeout_s: float) -> float:
        """Spin until no command came for quiet_s of spinning; returns the arrival time of the last command.

        The quiet time counts from this call at the earliest: commands queued while the test was not spinning
        (a loaded CI machine once spent 1.4 s between two spins) arrive only now, and must not read as silence."""
        start = time.monotonic()
        ok = self.spin_until(
            lambda: time.monotonic() - max(start, self.commands[-1][0] if self.commands else start) > quiet_s,
            timeout_s)
        assert ok, f"commands still flowing after {timeout_s} s"
        return self.commands[-1][0] if self.commands else 0.0


@pytest.fixture(scope="module")
def graph_env(ros_env) -> dict[str, str]:
    return {"FASTDDS_DEFAULT_PROFILES_FILE": str(LEASE_PROFILE)}


@pytest.fixture(scope="module")
def servers(module_spawn, graph_env):
    module_spawn("-c", PLANT, env=graph_env)
    return module_spawn("-m", "flash_sim.trajectory_node", "--ros-args", "--params-file", str(CONFIG), env=graph_env)


@pytest.fixture(scope="module")
def observer(servers, module_ros_context):
    o = Observer(module_ros_context)
    ready = o.spin_until(lambda: o.arm.server_is_ready() and o.hand.server_is_ready() and o.joint_states, 20.0)
    if not ready:
        servers.kill()
        pytest.fail(f"servers not ready; their output:\n{servers.stdout.read()}")
    yield o
    o.node.destroy_node()


def test_error_codes_are_control_msgs():
    from control_msgs.action import FollowJointTrajectory
    from flash_sim.tracking import ErrorCode

    for code in ErrorCode:
        assert getattr(FollowJointTrajectory.Result, code.name) == code


def test_rejects_bad_goals_and_survives_bad_states(observer, servers):
    from sensor_msgs.msg import JointState

    assert not observer.send(observer.arm, ARM[:6] + ["elbow"], [(1.0, [0.0] * 7)]).accepted
    assert not observer.send(observer.arm, ARM[:6], [(1.0, [0.0] * 6)]).accepted  # partial arm goal
    assert not observer.send(observer.hand, HAND, [(1.0, [0.0] * 15 + [float("nan")])]).accepted
    assert not observer.send(observer.arm, ARM, [(1.0, [0.0] * 7), (0.5, [0.1] * 7)]).accepted
    observer.bad_states.publish(JointState(name=["joint_1", "joint_2"], position=[0.1]))
    observer.bad_states.publish(JointState(name=["joint_1"], position=[float("nan")]))
    assert not observer.commands, "a rejected goal must not command anything"
    handle = observer.send(observer.arm, ARM, [(0.2, observer.measured(ARM))])  # still serving
    assert handle.accepted and observer.result(handle, 5.0).result.error_code == 0
    assert servers.poll() is None


def test_follows_arm_and_hand_then_stops_commanding(observer):
    from action_msgs.msg import GoalStatus

    arm_goal = np.linspace(0.2, 0.8, 7)
    hand_goal = np.linspace(0.0, 1.0, 16)
    feedback = []
    arm = observer.send(observer.arm, ARM, [(0.5, arm_goal / 2), (1.0, arm_goal)], feedback=feedback.append)
    hand = observer.send(observer.hand, HAND, [(0.8, hand_goal)])
    assert arm.accepted and hand.accepted
    arm_result, hand_result = observer.result(arm, 10.0), observer.result(hand, 10.0)
    for r in (arm_result, hand_result):
        assert r.status == GoalStatus.STATUS_SUCCEEDED and r.result.error_code == 0, r.result.error_string
    ended = time.monotonic()
    last = observer.wait_for_silence(0.5, 5.0)
    assert last - ended < 0.1, "commands went on after the goals succeeded"
    # both controllers commanded; the last commands are the last points, and the plant got there
    names = {n for _, m in observer.commands for n in m.name}
    assert set(ARM) <= names and set(HAND) <= names
    final = {n: p for _, m in observer.commands for n, p in zip(m.name, m.position)}
    np.testing.assert_allclose([final[n] for n in ARM], arm_goal, atol=1e-9)
    np.testing.assert_allclose(observer.measured(ARM), arm_goal, atol=1e-3)
    np.testing.assert_allclose(observer.measured(HAND), hand_goal, atol=1e-3)
    # feedback as JTC's: desired - actual = error, for the goal's joints
    assert feedback and list(feedback[-1].feedback.joint_names) == ARM
    f = feedback[len(feedback) // 2].feedback
    np.testing.assert_allclose(np.subtract(f.desired.positions, f.actual.positions), f.error.positions, atol=1e-12)
    assert observer.joint_states, "/joint_states not republished"


def test_cancel_holds_where_the_arm_is_then_stops(observer):
    from action_msgs.msg import GoalStatus

    start = observer.measured(ARM)
    handle = observer.send(observer.arm, ARM, [(3.0, start - 1.0)])
    n = len(observer.commands)
    assert observer.spin_until(lambda: len(observer.commands) > n + 20, 30.0), "no commands while the goal runs"
    cancel = handle.cancel_goal_async()
    assert observer.spin_until(cancel.done, 30.0)
    result = observer.result(handle, 5.0)
    assert result.status == GoalStatus.STATUS_CANCELED
    ended = time.monotonic()
    observer.wait_for_silence(0.5, 5.0)
    hold_time, hold = observer.commands[-1]
    assert hold_time - ended < 0.1, "commands went on after the cancel"
    hold_positions = np.array(hold.position)
    assert np.all(hold_positions > start - 0.9), "the last command is the trajectory's target, not a hold"
    np.testing.assert_allclose(observer.measured(ARM), hold_positions, atol=1e-3)  # and the arm stays there


def test_newer_goal_preempts_and_path_tolerance_aborts(observer):
    from action_msgs.msg import GoalStatus

    start = observer.measured(ARM)
    first = observer.send(observer.arm, ARM, [(3.0, start + 1.0)])
    n = len(observer.commands)
    assert observer.spin_until(lambda: len(observer.commands) > n + 10, 30.0)
    second = observer.send(observer.arm, ARM, [(0.3, start)])  # JTC preempts the running goal
    first_result, second_result = observer.result(first, 5.0), observer.result(second, 5.0)
    assert first_result.status == GoalStatus.STATUS_ABORTED and "preempted" in first_result.result.error_string
    assert second_result.status == GoalStatus.STATUS_SUCCEEDED
    # the plant lags the reference by ~tau * velocity: a 1 mrad path tolerance on joint_3 cannot hold
    third = observer.send(observer.arm, ARM, [(1.0, start + 0.5)], path_tolerance=[("joint_3", 1e-3)])
    result = observer.result(third, 5.0)
    assert result.status == GoalStatus.STATUS_ABORTED
    assert result.result.error_code == result.result.PATH_TOLERANCE_VIOLATED
    assert "joint joint_3 left its path tolerance" in result.result.error_string
    observer.wait_for_silence(0.5, 5.0)
    np.testing.assert_allclose(observer.measured(ARM), observer.commands[-1][1].position, atol=1e-3)  # held


@pytest.mark.parametrize("sig, bound_s", [(signal.SIGTERM, 1.5), (signal.SIGKILL, 3.5)])
def test_killed_client_stops_the_arm(observer, servers, spawn, graph_env, sig, bound_s):
    client = spawn("-c", CLIENT, env=graph_env)
    assert client.stdout.readline().strip() == "accepted"
    n = len(observer.commands)
    assert observer.spin_until(lambda: len(observer.commands) > n + 20, 30.0), "no commands while the goal runs"
    os.kill(client.pid, sig)
    killed = time.monotonic()
    last = observer.wait_for_silence(0.5, 10.0)
    stopped_after_s = last - killed
    print(f"{sig.name}: last command {stopped_after_s:.2f} s after the kill")
    assert stopped_after_s < bound_s
    hold = np.array(observer.commands[-1][1].position)
    np.testing.assert_allclose(observer.measured(ARM), hold, atol=1e-3)  # the arm holds still
    assert servers.poll() is None
