"""FollowJointTrajectory servers for the simulated arm and hand, in place of ros2_control's JTC.

One node serves every controller named in its `controllers` parameter (default: the Gen3 arm on
/joint_trajectory_controller/follow_joint_trajectory and the LEAP hand on /leap_hand/follow_joint_trajectory),
on the Isaac Sim topic contract that topic_based_ros2_control uses:

- reads `/isaac_joint_states` (sensor_msgs/JointState; a message with mismatched sizes, repeated names or
  non-finite values is dropped with a warning) and republishes it on `/joint_states`, as
  joint_state_broadcaster would;
- while a goal runs, publishes the sampled trajectory (`flash_sim.tracking`: JTC's checks, splines and
  tolerances) as position targets on `/isaac_joint_commands` at `command_rate_hz` of the node's clock (sim
  time under `use_sim_time`), one message per cycle holding the joints of every running goal; the simulator
  holds each joint's last target (its position actuators are the gains: MuJoCo's, or Isaac's drives), so
  after a goal succeeds nothing more is published and the joints stay at the last point;
- on cancel, abort (path or goal tolerance), preemption by a newer goal (JTC preempts) or loss of the goal's
  client, publishes one hold command (the measured positions of the goal's joints), then nothing;
- feedback (desired, actual, error) at `feedback_rate_hz` (JTC's action_monitor_rate; 20 in ros2_kortex).

Goals JTC would refuse are rejected (a ROS 2 rejection carries no result: the reason and control_msgs'
error code are logged as warnings). A goal's client is watched through the graph: the subscribers of the
action's feedback topic when the goal started are its possible clients (rclpy does not tell which one sent
it); once any of them has left (its process exited or was killed) the goal is aborted and the joints hold,
checked every `client_check_period_s` of wall time. Another action client leaving while a goal runs thus stops
that goal too: a false alarm holds the joints, a missed one would leave them moving. A client ended by SIGINT
or SIGTERM leaves the graph at once (last command 0.2-0.3 s after the kill, measured in
tests/ros/test_trajectory_servers.py); a SIGKILLed one only when its DDS participant lease expires: 20 s with
Fast DDS's default (measured 20.0 s), 2 s with config/fastdds_sim.xml in FASTDDS_DEFAULT_PROFILES_FILE
of the client's process (measured 1.9-2.0 s).

Gains: none here. ros2_kortex's JTC has a position command interface, for which JTC applies no PID (its gains
act only on velocity or effort interfaces): it sends the sampled positions, and the tracking gains are the
simulator's position actuators (flash_sim.world's, or Isaac's joint drives), as for the real arm's own servo loop.

Measured (`.venv/bin/python -m benchmarks.bench_trajectory_servers`, 2 cores shared with other jobs at load
average ~10, arm + hand goals of 10 s, 100 Hz plant): command intervals mean 10.4 ms (wall) / 10.3 ms (sim),
std 5.2 / 1.7 ms, p99 27 / 20 ms, max 46 / 20 ms; 973 of 1000 cycles commanded (a late /clock makes rclpy's
sim-time timer fire once for two periods; the trajectory is sampled by time, so nothing accumulates). Node CPU:
8 % of one core idle (republishing /joint_states at 100 Hz, /clock), 13 % while both goals run, with a
SingleThreadedExecutor; rclpy's MultiThreadedExecutor took 13-42 % idle and 60-75 % during goals.

    python -m flash_sim.trajectory_node --ros-args --params-file config/sim_trajectory_servers.yaml
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np
from control_msgs.action import FollowJointTrajectory
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.task import Future
from sensor_msgs.msg import JointState

from flash_ros import run_node
from flash_sim.tracking import (
    CheckedGoal,
    ControllerConfig,
    ErrorCode,
    GoalMonitor,
    GoalRejected,
    JointToleranceSpec,
    Outcome,
    SplineTrajectory,
    Tolerances,
    TrajectoryPoint,
    arm_controller,
    check_goal,
    hand_controller,
    resolve_tolerances,
)

Result = FollowJointTrajectory.Result
DEFAULT_CONTROLLERS = {"arm": arm_controller, "hand": hand_controller}


def _seconds(duration) -> float:
    return duration.sec + duration.nanosec * 1e-9


@dataclass
class _Running:
    """A goal being executed: filled on its first control cycle (start time, monitor)."""

    handle: object
    goal: CheckedGoal
    tolerances: Tolerances
    done: Future  # set to (terminal state: "succeed" | "abort" | "cancel", Outcome)
    monitor: GoalMonitor | None = None
    start_s: float = 0.0
    clients: frozenset[bytes] = frozenset()  # gids of the feedback subscribers when the goal started


class _Controller:
    """One FollowJointTrajectory server's joints, measured state and running goal (guarded by the node's lock)."""

    def __init__(self, config: ControllerConfig):
        self.config = config
        n = len(config.joints)
        self.index = {name: j for j, name in enumerate(config.joints)}
        self.positions = np.zeros(n)
        self.velocities = np.zeros(n)
        self.known = np.zeros(n, dtype=bool)
        self.has_velocity = np.zeros(n, dtype=bool)
        self.running: _Running | None = None
        self.feedback_topic = config.action_name.rstrip("/") + "/_action/feedback"


class TrajectoryServers(Node):
    def __init__(self, **kwargs):
        super().__init__("trajectory_servers", **kwargs)
        self.declare_parameter("controllers", list(DEFAULT_CONTROLLERS))
        self.declare_parameter("command_rate_hz", 100.0)
        self.declare_parameter("feedback_rate_hz", 20.0)
        self.declare_parameter("client_check_period_s", 0.1)
        rates = {k: float(self.get_parameter(k).value)
                 for k in ("command_rate_hz", "feedback_rate_hz", "client_check_period_s")}
        bad = {k: v for k, v in rates.items() if not v > 0}
        if bad:
            raise ValueError(f"these parameters must be positive: {bad}")
        self.controllers = [_Controller(self._controller_config(name))
                            for name in self.get_parameter("controllers").value]
        self._feedback_every = max(1, round(rates["command_rate_hz"] / rates["feedback_rate_hz"]))
        self._lock = threading.Lock()  # main() spins one thread, but the node may share a MultiThreadedExecutor
        self._ticks = 0

        state_group = MutuallyExclusiveCallbackGroup()  # state, control cycle and client checks never overlap
        self._commands = self.create_publisher(JointState, "/isaac_joint_commands", 10)
        self._joint_states = self.create_publisher(JointState, "/joint_states", 10)
        self.create_subscription(JointState, "/isaac_joint_states", self._on_state, qos_profile_sensor_data,
                                 callback_group=state_group)
        self._cycle = self.create_timer(1.0 / rates["command_rate_hz"], self._control_cycle,
                                        callback_group=state_group)
        self._cycle.cancel()  # runs only while a goal does: an idle cycle would cost CPU for nothing
        # Wall time: a client's death must be noticed even when sim time stands still.
        self.create_timer(rates["client_check_period_s"], self._check_clients, callback_group=state_group,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        action_group = ReentrantCallbackGroup()
        self._servers = [
            ActionServer(self, FollowJointTrajectory, c.config.action_name,
                         execute_callback=self._execute_callback(c),
                         goal_callback=lambda goal, c=c: self._on_goal(c, goal),
                         cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=action_group)
            for c in self.controllers
        ]
        summary = ", ".join(f"{c.config.action_name} ({len(c.config.joints)} joints)" for c in self.controllers)
        self.get_logger().info(f"serving {summary} at {rates['command_rate_hz']:g} Hz")

    def _controller_config(self, name: str) -> ControllerConfig:
        """`<name>.*` parameters over the built-in defaults of `arm` and `hand` (other names: no defaults)."""
        default = DEFAULT_CONTROLLERS[name]() if name in DEFAULT_CONTROLLERS else None
        fields = {  # parameter -> (ControllerConfig field, default)
            "action_name": ("action_name", default.action_name if default else ""),
            "joints": ("joints", list(default.joints) if default else [""]),
            "constraints.trajectory": ("path_tolerance_rad", list(default.path_tolerance_rad) if default else [0.0]),
            "constraints.goal": ("goal_tolerance_rad", list(default.goal_tolerance_rad) if default else [0.0]),
            "constraints.stopped_velocity_tolerance": ("stopped_velocity_tolerance_rad_s",
                                                       default.stopped_velocity_tolerance_rad_s if default else 0.0),
            "constraints.goal_time": ("goal_time_s", default.goal_time_s if default else 0.0),
            "allow_partial_joints_goal": ("allow_partial_joints_goal",
                                          default.allow_partial_joints_goal if default else False),
            "allow_nonzero_velocity_at_trajectory_end": (
                "allow_nonzero_velocity_at_trajectory_end",
                default.allow_nonzero_velocity_at_trajectory_end if default else False),
        }
        values = {}
        for parameter, (field_name, value) in fields.items():
            value = self.declare_parameter(f"{name}.{parameter}", value).value
            values[field_name] = tuple(value) if isinstance(value, list | tuple) else value
        if default is None:
            return ControllerConfig(**values)
        return replace(default, **values)

    # --- measured state ---
    def _on_state(self, msg: JointState) -> None:
        names, positions, velocities = list(msg.name), np.asarray(msg.position, dtype=float), list(msg.velocity)
        problem = ""
        if len(names) != len(positions) or len(velocities) not in (0, len(names)):
            problem = f"{len(names)} names, {len(positions)} positions, {len(velocities)} velocities"
        elif len(set(names)) != len(names):
            problem = "repeated joint names"
        elif not np.all(np.isfinite(positions)) or not np.all(np.isfinite(velocities)):
            problem = "non-finite values"
        if problem:
            self.get_logger().warning(f"dropping a /isaac_joint_states message: {problem}", throttle_duration_sec=2.0)
            return
        with self._lock:
            for c in self.controllers:
                for k, name in enumerate(names):
                    j = c.index.get(name)
                    if j is not None:
                        c.positions[j] = positions[k]
                        c.known[j] = True
                        if velocities:
                            c.velocities[j] = velocities[k]
                            c.has_velocity[j] = True
        if self.context.ok():  # shutting down: a callback already in flight must not publish
            self._joint_states.publish(msg)

    # --- goals ---
    def _check(self, c: _Controller, request) -> CheckedGoal:
        trajectory = request.trajectory
        points = [TrajectoryPoint(_seconds(p.time_from_start), list(p.positions), list(p.velocities),
                                  list(p.accelerations)) for p in trajectory.points]
        stamp_s = trajectory.header.stamp.sec + trajectory.header.stamp.nanosec * 1e-9
        goal = check_goal(c.config, trajectory.joint_names, points, self._now_s(), stamp_s)
        with self._lock:
            unmeasured = [n for n, j in zip(goal.joint_names, goal.columns) if not c.known[j]]
        if unmeasured:
            raise GoalRejected(ErrorCode.INVALID_GOAL, f"no state received on /isaac_joint_states for {unmeasured}")
        return goal

    def _on_goal(self, c: _Controller, request) -> GoalResponse:
        try:
            self._check(c, request)
        except GoalRejected as exc:
            self.get_logger().warning(f"rejecting a goal on {c.config.action_name} ({exc.code.name}): {exc}")
            return GoalResponse.REJECT
        except Exception as exc:  # a goal must never take the node down
            self.get_logger().error(f"rejecting a goal on {c.config.action_name}: {exc!r}")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute_callback(self, c: _Controller):
        async def execute(handle):  # a coroutine function: rclpy awaits only those (a lambda's coroutine it would not)
            return await self._execute(c, handle)

        return execute

    async def _execute(self, c: _Controller, handle):
        request = handle.request
        try:  # checked again: the joint state may have changed since the goal callback
            goal = self._check(c, request)
        except GoalRejected as exc:
            handle.abort()
            return Result(error_code=int(exc.code), error_string=str(exc))

        def specs(tolerances):
            return [JointToleranceSpec(t.name, t.position, t.velocity) for t in tolerances]

        tolerances, warning = resolve_tolerances(c.config, specs(request.path_tolerance), specs(request.goal_tolerance),
                                                 _seconds(request.goal_time_tolerance))
        if warning:
            self.get_logger().warning(f"{c.config.action_name}: {warning}")
        running = _Running(handle, goal, tolerances, Future(executor=self.executor))
        with self._lock:
            if c.running is not None:  # JTC preempts the running goal
                self._finish(c, "abort", Outcome(ErrorCode.INVALID_GOAL, "preempted by a newer goal"))
            c.running = running
            self._cycle.reset()
        state, outcome = await running.done
        {"succeed": handle.succeed, "abort": handle.abort, "cancel": handle.canceled}[state]()
        if state != "succeed":
            self.get_logger().info(f"{c.config.action_name}: goal ended ({state}): {outcome.reason}")
        return Result(error_code=int(outcome.code), error_string=outcome.reason)

    def _finish(self, c: _Controller, state: str, outcome: Outcome, hold: JointState | None = None) -> None:
        """End c's running goal (lock held); unless it succeeded, its joints hold where they are measured."""
        running, c.running = c.running, None
        if state != "succeed":
            msg = hold if hold is not None else JointState()
            msg.name.extend(running.goal.joint_names)
            msg.position.extend(c.positions[running.goal.columns].tolist())
            if hold is None:
                self._publish_command(msg)
        running.done.set_result((state, outcome))

    # --- the control cycle ---
    def _control_cycle(self) -> None:
        now_s = self._now_s()
        command = JointState()
        self._ticks += 1
        send_feedback = self._ticks % self._feedback_every == 0
        with self._lock:
            for c in self.controllers:
                running = c.running
                if running is None:
                    continue
                if running.handle.is_cancel_requested:
                    self._finish(c, "cancel", Outcome(ErrorCode.SUCCESSFUL, "canceled"), hold=command)
                    continue
                try:
                    self._step(c, running, now_s, send_feedback, command)
                except Exception as exc:  # a bad trajectory or state must never take the node down
                    self.get_logger().error(f"{c.config.action_name}: control cycle failed: {exc!r}")
                    if c.running is running:
                        self._finish(c, "abort", Outcome(ErrorCode.INVALID_GOAL, f"control cycle failed: {exc!r}"),
                                     hold=command)
            if all(c.running is None for c in self.controllers):
                self._cycle.cancel()
        if command.name:
            self._publish_command(command)

    def _step(self, c: _Controller, running: _Running, now_s: float, send_feedback: bool,
              command: JointState) -> None:
        """One cycle of one goal (lock held): its desired positions go into `command`."""
        cols = running.goal.columns
        actual = c.positions[cols].copy()
        actual_velocity = c.velocities[cols].copy() if c.has_velocity[cols].all() else None
        if running.monitor is None:  # the first cycle: start from the measured state, as JTC does
            running.start_s = now_s if running.goal.start_time_s is None else running.goal.start_time_s
            trajectory = SplineTrajectory(running.goal.points, actual, actual_velocity)
            running.monitor = GoalMonitor(running.goal, trajectory, running.tolerances)
        desired, error, outcome = running.monitor.step(now_s - running.start_s, actual, actual_velocity)
        if outcome is not None and outcome.code != ErrorCode.SUCCESSFUL:
            self._finish(c, "abort", outcome, hold=command)
            return
        command.name.extend(running.goal.joint_names)
        command.position.extend(desired.positions.tolist())
        if send_feedback or outcome is not None:
            running.handle.publish_feedback(self._feedback(running.goal, desired, actual, actual_velocity,
                                                           error))
        if outcome is not None:
            self._finish(c, "succeed", outcome)

    def _feedback(self, goal: CheckedGoal, desired, actual, actual_velocity, error) -> FollowJointTrajectory.Feedback:
        feedback = FollowJointTrajectory.Feedback()
        feedback.header.stamp = self.get_clock().now().to_msg()
        feedback.joint_names = list(goal.joint_names)
        feedback.desired.positions = desired.positions.tolist()
        feedback.desired.velocities = desired.velocities.tolist()
        feedback.actual.positions = actual.tolist()
        feedback.error.positions = error.tolist()
        if actual_velocity is not None:
            feedback.actual.velocities = actual_velocity.tolist()
            feedback.error.velocities = (desired.velocities - actual_velocity).tolist()
        return feedback

    def _publish_command(self, msg: JointState) -> None:
        if not self.context.ok():
            return
        msg.header.stamp = self.get_clock().now().to_msg()
        self._commands.publish(msg)

    # --- the goal's client ---
    def _check_clients(self) -> None:
        """Abort a goal when an action client it started with left the graph (rclpy does not say which client sent
        a goal, so any of them leaving counts: a false alarm holds the joints, a missed one would not)."""
        with self._lock:
            watched = [(c, c.running) for c in self.controllers if c.running is not None]
        for c, running in watched:
            present = frozenset(bytes(i.endpoint_gid) for i in self.get_subscriptions_info_by_topic(c.feedback_topic))
            with self._lock:
                if c.running is not running:
                    continue
                if not running.clients:  # the client may not have been discovered yet when the goal came
                    running.clients = present
                elif not running.clients <= present:
                    self.get_logger().warning(f"{c.config.action_name}: the goal's client left the graph; "
                                              "aborting and holding")
                    self._finish(c, "abort", Outcome(ErrorCode.INVALID_GOAL, "the goal's client disappeared"))

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9


def main(args=None) -> None:
    # Callbacks never block (a goal's execute awaits a future the control cycle completes): one thread is enough,
    # and rclpy's MultiThreadedExecutor cost several times the CPU at 100 Hz (see the module docstring).
    run_node(TrajectoryServers, args, ready_line="ready", executor_class=SingleThreadedExecutor)


if __name__ == "__main__":
    main()
