"""The `leap_hand_driver` node: a thin ROS 2 shell around `flash_core.motors.LeapHand`.

One control timer owns the serial bus: each cycle (`LeapHand.step`) sends the latest goal to the driven
motors, reads positions, velocities, currents and health, and spends what is left of its time budget
on motors that are not driven (configuring, pinging, rebooting); then `joint_states` goes out. Commands
(`cmd_leap`, `cmd_allegro`, the `follow_joint_trajectory` action) only update that goal; services
answer from the last cycle's state; `reboot` queues REBOOTs that the cycles carry out. Faults are
logged once when they appear and when they clear, reported on `hand_status`, and never stop the node.
Start-up refuses (exit code 1, message naming the motors) when a motor is missing, of another model
or refuses its configuration, unless `allow_missing` lists it. Torque goes off on shutdown.

Parameters: see config/leap_hand_driver.yaml.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

import numpy as np
from control_msgs.action import FollowJointTrajectory
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from sensor_msgs.msg import JointState

from flash_core.motors import (
    BusConfig,
    FaultLog,
    HandStartupError,
    LeapHand,
    LeapHandConfig,
    SupervisorConfig,
    allegro_to_leap,
)
from flash_interfaces.msg import HandMotorStatus
from flash_interfaces.srv import LeapEffort, LeapPosition, LeapPosVel, LeapPosVelEff, LeapReboot, LeapVelocity
from flash_ros import run_node
from leap_hand_driver.commands import JointNames
from leap_hand_driver.trajectory import LinearTrajectory

Result = FollowJointTrajectory.Result


class LeapHandDriver(Node):
    def __init__(self):
        super().__init__("leap_hand_driver")
        self.hand: LeapHand | None = None  # destroy_node runs even when __init__ failed
        defaults = LeapHandConfig()
        self.declare_parameter("port", defaults.port)
        self.declare_parameter("baudrate", defaults.baudrate)
        self.declare_parameter("motor_ids", list(defaults.motor_ids))
        self.declare_parameter("allow_missing", Parameter.Type.INTEGER_ARRAY)
        self.declare_parameter("rate_hz", 100.0)
        self.declare_parameter("status_rate_hz", 5.0)
        self.declare_parameter("variant", defaults.variant)
        self.declare_parameter("current_limit", 0)
        self.declare_parameter("kp", defaults.kp)
        self.declare_parameter("ki", defaults.ki)
        self.declare_parameter("kd", defaults.kd)
        self.declare_parameter("fast_sync_read", defaults.fast_sync_read)
        self.declare_parameter("latency_timer_ms", defaults.latency_timer_ms)
        self.declare_parameter("max_retries", defaults.bus.max_retries)
        self.declare_parameter("probe_interval_s", defaults.supervisor.probe_interval_s)
        self.declare_parameter("auto_reboot_limit", defaults.supervisor.auto_reboot_limit)
        self.declare_parameter("use_fake_hardware", defaults.use_fake_hardware)
        self.declare_parameter("joint_prefix", "")
        self.declare_parameter("joint_naming", "official")
        param = lambda name: self.get_parameter(name).value  # noqa: E731

        self.rate_hz = float(param("rate_hz"))
        status_rate_hz = float(param("status_rate_hz"))
        if self.rate_hz <= 0 or status_rate_hz <= 0:
            raise ValueError(f"rate_hz and status_rate_hz must be positive, got {self.rate_hz}, {status_rate_hz}")
        config = LeapHandConfig(
            port=param("port"),
            baudrate=int(param("baudrate")),
            motor_ids=tuple(param("motor_ids")),
            allow_missing=tuple(self.get_parameter_or("allow_missing").value or ()),  # unset: none
            period_s=1.0 / self.rate_hz,
            variant=param("variant"),
            current_limit=int(param("current_limit")) or None,
            kp=int(param("kp")),
            ki=int(param("ki")),
            kd=int(param("kd")),
            fast_sync_read=bool(param("fast_sync_read")),
            latency_timer_ms=float(param("latency_timer_ms")),
            use_fake_hardware=bool(param("use_fake_hardware")),
            bus=BusConfig(max_retries=int(param("max_retries"))),
            supervisor=SupervisorConfig(probe_interval_s=float(param("probe_interval_s")),
                                        auto_reboot_limit=int(param("auto_reboot_limit"))),
        )
        self.names = JointNames(param("joint_naming"), param("joint_prefix"))
        self.hand = LeapHand(config)
        try:
            self.hand.connect()
        except (HandStartupError, ConnectionError) as exc:
            self.get_logger().fatal(str(exc))
            raise
        for note in self.hand.notes:
            self.get_logger().warning(note)
        try:
            self._setup_ros(config, status_rate_hz)
        except BaseException:
            self.hand.close()  # never leave torque on behind a node that failed to start
            raise

    def _setup_ros(self, config: LeapHandConfig, status_rate_hz: float) -> None:
        # The goal and the last state are shared between the control timer and other callbacks.
        self._lock = threading.Lock()
        self._state = self.hand.read_state()
        self._goal = np.where(self._state.known, self._state.position_rad, 0.0)
        self._goal_dirty = False
        self._active_goal = None  # the FollowJointTrajectory goal that owns the hand, if any
        self._fault_log = FaultLog()
        self._published_faults: dict[str, str] | None = None

        bus_group = MutuallyExclusiveCallbackGroup()
        self._joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self._status_pub = self.create_publisher(HandMotorStatus, "hand_status", 10)
        self.create_subscription(JointState, "cmd_leap", self._on_cmd_leap, 10)
        self.create_subscription(JointState, "cmd_allegro", self._on_cmd_allegro, 10)
        self.create_timer(1.0 / self.rate_hz, self._control_step, callback_group=bus_group)
        # Same group as the control step: the status reads what the control step updates.
        self.create_timer(1.0 / status_rate_hz, self._publish_status, callback_group=bus_group)
        self.create_service(LeapPosition, "leap_position", self._srv("position"))
        self.create_service(LeapVelocity, "leap_velocity", self._srv("velocity"))
        self.create_service(LeapEffort, "leap_effort", self._srv("effort"))
        self.create_service(LeapPosVel, "leap_pos_vel", self._srv("position", "velocity"))
        self.create_service(LeapPosVelEff, "leap_pos_vel_eff", self._srv("position", "velocity", "effort"))
        self.create_service(LeapReboot, "reboot", self._on_reboot, callback_group=ReentrantCallbackGroup())
        self._action = ActionServer(
            self, FollowJointTrajectory, "follow_joint_trajectory", self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )
        status = self.hand.status()
        where = "fake hardware" if config.use_fake_hardware else config.port
        summary = (f"LEAP hand on {where}: {sum(status.driven)} of {len(self.names)} joints driven at "
                   f"{self.rate_hz:g} Hz")
        self.get_logger().info("; ".join([summary, *status.faults.values()]))

    # --- the control loop: the only place that touches the bus ---
    def _control_step(self) -> None:
        with self._lock:
            goal = self._goal.copy() if self._goal_dirty else None
            self._goal_dirty = False
        try:
            state = self.hand.step(goal)
            status = self.hand.status()
        except Exception as exc:  # serial faults are already absorbed by the bus; this is the last guard
            self.get_logger().error(f"control cycle failed: {exc!r}", throttle_duration_sec=1.0)
            return
        with self._lock:
            self._state = state
        if not self.context.ok():  # shutting down: a callback already in flight must not publish
            return
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        known = np.flatnonzero(state.known)  # a joint never read is left out, not published as 0
        msg.name = [self.names.published[i] for i in known]
        msg.position = state.position_rad[known].tolist()
        msg.velocity = state.velocity_rad_s[known].tolist()
        msg.effort = state.current_a[known].tolist()  # present current (A), as the LEAP API reports
        self._joint_pub.publish(msg)
        for line in self._fault_log.update(status.faults):
            # One call site per severity: rclpy refuses a call site whose severity changes.
            if line.level >= logging.WARNING:
                self.get_logger().warning(line.text)
            else:
                self.get_logger().info(line.text)
        if status.faults != self._published_faults:  # a change goes out at once, not at the next status tick
            self._publish_status()

    def _set_goal(self, goal: np.ndarray) -> None:
        with self._lock:
            self._goal = self.hand.clamp(goal)
            self._goal_dirty = True

    def _publish_status(self) -> None:
        if not self.context.ok():
            return
        status = self.hand.status()
        msg = HandMotorStatus()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.joint_names = self.names.published
        msg.motor_ids = list(status.motor_ids)
        msg.hardware_error_status = [status.hardware_error_bits.get(j, 0) for j in self.hand.joint_names]
        msg.hardware_errors = [",".join(status.hardware_errors.get(j, [])) for j in self.hand.joint_names]
        msg.responding = list(status.responding)
        msg.torque_enabled = list(status.torque_enabled)
        msg.stale = list(status.stale)
        msg.motor_state = list(status.motor_states)
        msg.crc_errors = status.failures["crc"] + status.failures["length"]
        msg.timeouts = status.failures["timeout"]
        msg.reads = status.reads
        msg.writes = status.writes
        msg.fast_sync_read = status.fast_sync_read
        msg.ok = status.ok
        problems = list(status.faults.values())
        stale = [j for j, s, d in zip(self.names.published, status.stale, status.driven) if s and d]
        if stale:
            problems.append(f"stale: {', '.join(stale)}")
        if status.failures["io"]:
            problems.append(f"{status.failures['io']} serial port errors")
        msg.message = "; ".join(problems) or "ok"
        self._published_faults = status.faults
        self._status_pub.publish(msg)

    async def _on_reboot(self, request, response):
        try:
            joints = [self.hand.joint_names[i] for i in self.names.indices(list(request.joints), "reboot")]
        except ValueError as exc:
            response.success, response.message = False, str(exc)
            return response
        done = Future(executor=self.executor)
        self.hand.request_reboot(joints or None).add_done_callback(lambda f: done.set_result(f.result()))
        result = await done
        response.success = result.ok
        response.rebooted = [self.names.published[self.hand.joint_names.index(j)] for j in result.driven]
        response.message = "; ".join(f"joint {j}: {why}" for j, why in result.failed.items()) or "ok"
        return response

    # --- commands ---
    def _command(self, topic: str, msg: JointState) -> np.ndarray | None:
        """Goal from a JointState (by name, or all joints in order), or None with a warning saying why."""
        try:
            with self._lock:
                current = self._goal.copy()
            return self.names.goal(f"ignoring {topic}", list(msg.name), list(msg.position), current)
        except ValueError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)
            return None

    def _on_cmd_leap(self, msg: JointState) -> None:
        goal = self._command("cmd_leap", msg)
        if goal is not None:
            self._preempt_trajectory()
            self._set_goal(goal)

    def _on_cmd_allegro(self, msg: JointState) -> None:
        if msg.name:
            self.get_logger().warning(f"ignoring cmd_allegro: it takes {len(self.names)} positions in Allegro order "
                                      f"(joint_0.0..joint_15.0) without names; got names {list(msg.name)}",
                                      throttle_duration_sec=1.0)
            return
        goal = self._command("cmd_allegro", msg)
        if goal is not None:
            self._preempt_trajectory()
            self._set_goal(allegro_to_leap(goal))

    def _preempt_trajectory(self) -> None:
        with self._lock:
            self._active_goal = None  # the running trajectory sees this and aborts

    # --- services: state of the last control cycle ---
    def _srv(self, *fields: str):
        """A service callback filling `fields` (position: rad, velocity: rad/s, effort: A) from the last cycle."""

        def callback(_request, response):
            with self._lock:
                state = self._state
            values = {"position": state.position_rad, "velocity": state.velocity_rad_s, "effort": state.current_a}
            for field in fields:
                setattr(response, field, values[field].tolist())
            return response

        return callback

    # --- FollowJointTrajectory ---
    def _on_goal(self, goal) -> GoalResponse:
        names = list(goal.trajectory.joint_names)
        problem = self.names.trajectory_problem(names, [len(p.positions) for p in goal.trajectory.points])
        if problem:
            self.get_logger().warning(f"rejecting {problem}")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute(self, handle):
        trajectory_msg = handle.request.trajectory
        columns = self.names.indices(list(trajectory_msg.joint_names), "trajectory")
        result = Result()
        with self._lock:
            start = self._goal.copy()
            self._active_goal = handle  # a newer goal or a direct command takes over
        try:
            times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in trajectory_msg.points]
            trajectory = LinearTrajectory(start[columns], times, [list(p.positions) for p in trajectory_msg.points])
        except ValueError as exc:
            handle.abort()
            result.error_code, result.error_string = Result.INVALID_GOAL, str(exc)
            return result

        feedback = FollowJointTrajectory.Feedback()
        feedback.joint_names = list(trajectory_msg.joint_names)
        t0 = time.monotonic()
        while True:
            t = time.monotonic() - t0
            with self._lock:
                owner = self._active_goal
            if owner is not handle:  # the newer goal or command now sets the joints: leave them alone
                handle.abort()
                result.error_string = "preempted by a newer command"
                return result
            if handle.is_cancel_requested:
                self._hold(columns)
                with self._lock:
                    self._active_goal = None
                handle.canceled()
                result.error_string = f"canceled at t={t:.2f}s"
                return result
            desired = trajectory.sample(t)
            with self._lock:
                goal = self._goal.copy()
                actual = self._state.position_rad[columns]
            goal[columns] = desired
            self._set_goal(goal)
            feedback.desired.positions = desired.tolist()
            feedback.actual.positions = actual.tolist()
            feedback.error.positions = (desired - actual).tolist()
            handle.publish_feedback(feedback)
            if t >= trajectory.duration_s:
                break
            time.sleep(1.0 / self.rate_hz)
        final = start.copy()
        final[columns] = trajectory.positions[-1]
        violated = self._wait_for_goal_tolerance(handle.request, columns, self.hand.clamp(final)[columns])
        with self._lock:
            if self._active_goal is handle:
                self._active_goal = None
        if violated:
            handle.abort()
            result.error_code = Result.GOAL_TOLERANCE_VIOLATED
            result.error_string = f"joints {violated} outside their goal tolerance"
            return result
        handle.succeed()
        result.error_code = Result.SUCCESSFUL
        return result

    def _hold(self, columns: list[int]) -> None:
        """Stop the given joints where they are now."""
        with self._lock:
            goal = self._goal.copy()
            goal[columns] = self._state.position_rad[columns]
        self._set_goal(goal)

    def _wait_for_goal_tolerance(self, request, columns: list[int], final: np.ndarray) -> list[str]:
        """Joints still outside their goal_tolerance after goal_time_tolerance (none: no check)."""
        tolerance = np.full(len(columns), np.inf)
        names = list(request.trajectory.joint_names)
        for t in request.goal_tolerance:
            if t.name in names and t.position > 0:
                tolerance[names.index(t.name)] = t.position
        if np.all(np.isinf(tolerance)):
            return []
        grace_s = request.goal_time_tolerance.sec + request.goal_time_tolerance.nanosec * 1e-9
        deadline = time.monotonic() + grace_s
        while True:
            with self._lock:
                error = np.abs(self._state.position_rad[columns] - final)
            outside = [names[k] for k in np.flatnonzero(error > tolerance)]
            if not outside or time.monotonic() >= deadline:
                return outside
            time.sleep(1.0 / self.rate_hz)

    def destroy_node(self) -> None:
        try:
            if self.hand is not None:
                self.hand.close()  # torque off
        finally:
            super().destroy_node()


def main(args=None) -> None:
    try:
        run_node(LeapHandDriver, args)
    except (HandStartupError, ConnectionError):
        sys.exit(1)  # the node logged why; a traceback would only bury it


if __name__ == "__main__":
    main()
