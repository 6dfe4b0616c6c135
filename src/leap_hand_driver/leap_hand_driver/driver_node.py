"""The `leap_hand_driver` node: a thin ROS 2 shell around `flash_core.motors.LeapHand`.

One control timer owns the serial bus: each cycle it sends the latest goal and reads positions,
velocities and currents, then publishes `joint_states`. Commands (`cmd_leap`, `cmd_allegro`, the
`follow_joint_trajectory` action) only update that goal; services answer from the last cycle's state.
Serial faults are counted and reported on `hand_status`; they never stop the node. Torque goes off on
shutdown.

Parameters: see config/leap_hand_driver.yaml.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from control_msgs.action import FollowJointTrajectory
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

from flash_core.hands.spec import load_spec
from flash_core.motors import BusConfig, LeapHand, LeapHandConfig, allegro_to_leap
from flash_core.planning.description import HAND_PREFIX
from flash_interfaces.msg import HandMotorStatus
from flash_interfaces.srv import LeapEffort, LeapPosition, LeapPosVel, LeapPosVelEff, LeapVelocity
from flash_ros import run_node
from leap_hand_driver.trajectory import LinearTrajectory

Result = FollowJointTrajectory.Result


def joint_names(naming: str, prefix: str) -> dict[str, list[str]]:
    """The joint names in LEAP order ("0".."15") under both namings, and the one `joint_states` publishes:
    "official" (prefix + "0".."15", as LEAP's own API) or "urdf" (gen3_leap.urdf / MoveIt: leap_if_rot, ...)."""
    spec = load_spec("leap")
    names = {
        "official": [prefix + j for j in spec.joint_names],
        "urdf": [HAND_PREFIX + m for m in spec.model_joint_names],
    }
    if naming not in names:
        raise ValueError(f"joint_naming must be 'official' or 'urdf', got {naming!r}")
    return {**names, "published": names[naming]}


class LeapHandDriver(Node):
    def __init__(self):
        super().__init__("leap_hand_driver")
        defaults = LeapHandConfig()
        self.declare_parameter("port", defaults.port)
        self.declare_parameter("baudrate", defaults.baudrate)
        self.declare_parameter("motor_ids", list(defaults.motor_ids))
        self.declare_parameter("rate_hz", 100.0)
        self.declare_parameter("status_rate_hz", 5.0)
        self.declare_parameter("variant", defaults.variant)
        self.declare_parameter("current_limit", 0)
        self.declare_parameter("kp", defaults.kp)
        self.declare_parameter("ki", defaults.ki)
        self.declare_parameter("kd", defaults.kd)
        self.declare_parameter("fast_sync_read", defaults.fast_sync_read)
        self.declare_parameter("max_retries", defaults.bus.max_retries)
        self.declare_parameter("use_fake_hardware", defaults.use_fake_hardware)
        self.declare_parameter("joint_prefix", "")
        self.declare_parameter("joint_naming", "official")
        param = lambda name: self.get_parameter(name).value  # noqa: E731

        config = LeapHandConfig(
            port=param("port"),
            baudrate=int(param("baudrate")),
            motor_ids=tuple(param("motor_ids")),
            variant=param("variant"),
            current_limit=int(param("current_limit")) or None,
            kp=int(param("kp")),
            ki=int(param("ki")),
            kd=int(param("kd")),
            fast_sync_read=bool(param("fast_sync_read")),
            use_fake_hardware=bool(param("use_fake_hardware")),
            bus=BusConfig(max_retries=int(param("max_retries"))),
        )
        self.rate_hz = float(param("rate_hz"))
        status_rate_hz = float(param("status_rate_hz"))
        if self.rate_hz <= 0 or status_rate_hz <= 0:
            raise ValueError(f"rate_hz and status_rate_hz must be positive, got {self.rate_hz}, {status_rate_hz}")
        self.hand = LeapHand(config)
        self.hand.connect()
        try:
            self._setup_ros(config, joint_names(param("joint_naming"), param("joint_prefix")), status_rate_hz)
        except BaseException:
            self.hand.close()  # never leave torque on behind a node that failed to start
            raise

    def _setup_ros(self, config: LeapHandConfig, names: dict[str, list[str]], status_rate_hz: float) -> None:
        self.joint_names = names["published"]
        # Commands may use either naming: LEAP's own tools send "0".."15", MoveIt sends the URDF's names.
        self._index = {name: i for key in ("official", "urdf") for i, name in enumerate(names[key])}

        # The goal and the last state are shared between the control timer and other callbacks.
        self._lock = threading.Lock()
        self._state = self.hand.read_state()
        self._goal = self._state.position_rad.copy()
        self._goal_dirty = False
        self._active_goal = None  # the FollowJointTrajectory goal that owns the hand, if any

        bus_group = MutuallyExclusiveCallbackGroup()
        self._joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self._status_pub = self.create_publisher(HandMotorStatus, "hand_status", 10)
        self.create_subscription(JointState, "cmd_leap", self._on_cmd_leap, 10)
        self.create_subscription(JointState, "cmd_allegro", self._on_cmd_allegro, 10)
        self.create_timer(1.0 / self.rate_hz, self._control_step, callback_group=bus_group)
        # Same group as the control step: the status reads the bus counters that the control step updates.
        self.create_timer(1.0 / status_rate_hz, self._publish_status, callback_group=bus_group)
        self.create_service(LeapPosition, "leap_position", self._srv("position"))
        self.create_service(LeapVelocity, "leap_velocity", self._srv("velocity"))
        self.create_service(LeapEffort, "leap_effort", self._srv("effort"))
        self.create_service(LeapPosVel, "leap_pos_vel", self._srv("position", "velocity"))
        self.create_service(LeapPosVelEff, "leap_pos_vel_eff", self._srv("position", "velocity", "effort"))
        self._action = ActionServer(
            self, FollowJointTrajectory, "follow_joint_trajectory", self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )
        self.get_logger().info(
            f"LEAP hand on {'fake hardware' if config.use_fake_hardware else config.port}: "
            f"{len(self.joint_names)} joints at {self.rate_hz:g} Hz"
        )

    # --- the control loop: the only place that touches the bus ---
    def _control_step(self) -> None:
        with self._lock:
            goal = self._goal.copy() if self._goal_dirty else None
            self._goal_dirty = False
        try:
            if goal is not None:
                self.hand.write_positions(goal)
            state = self.hand.read_state()
        except Exception as exc:  # serial faults are already absorbed by the bus; this is the last guard
            self.get_logger().error(f"control cycle failed: {exc!r}", throttle_duration_sec=1.0)
            return
        with self._lock:
            self._state = state
        if not self.context.ok():  # shutting down: a callback already in flight must not publish
            return
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = self.joint_names
        msg.position = state.position_rad.tolist()
        msg.velocity = state.velocity_rad_s.tolist()
        msg.effort = state.current_a.tolist()  # present current (A), as the LEAP API reports
        self._joint_pub.publish(msg)

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
        msg.joint_names = self.joint_names
        msg.motor_ids = list(status.motor_ids)
        msg.hardware_error_status = [status.hardware_error_bits.get(j, 0) for j in self.hand.joint_names]
        msg.hardware_errors = [",".join(status.hardware_errors.get(j, [])) for j in self.hand.joint_names]
        msg.responding = list(status.responding)
        msg.crc_errors = status.failures["crc"] + status.failures["length"]
        msg.timeouts = status.failures["timeout"]
        msg.reads = status.reads
        msg.writes = status.writes
        msg.ok = status.ok
        problems = [f"motor {j} not responding" for j, r in zip(self.hand.joint_names, status.responding) if not r]
        problems += [f"motor {j}: {', '.join(e)}" for j, e in status.hardware_errors.items()]
        if status.failures["io"]:
            problems.append(f"{status.failures['io']} serial port errors")
        msg.message = "; ".join(problems) or "ok"
        self._status_pub.publish(msg)

    # --- commands ---
    def _command(self, msg: JointState, convert) -> np.ndarray | None:
        """Goal from a JointState: by name when names are given, else all joints in order."""
        try:
            if msg.name:
                with self._lock:
                    goal = self._goal.copy()
                for name, q in zip(msg.name, msg.position, strict=True):
                    goal[self._index[name]] = q
            else:
                goal = np.asarray(msg.position, dtype=float)
            goal = convert(goal)
            if goal.shape != (len(self.joint_names),) or not np.all(np.isfinite(goal)):
                raise ValueError(f"need {len(self.joint_names)} finite positions, got {list(msg.position)}")
            return goal
        except (KeyError, ValueError) as exc:
            self.get_logger().warning(f"ignoring command: {exc}", throttle_duration_sec=1.0)
            return None

    def _on_cmd_leap(self, msg: JointState) -> None:
        goal = self._command(msg, lambda q: q)
        if goal is not None:
            self._preempt_trajectory()
            self._set_goal(goal)

    def _on_cmd_allegro(self, msg: JointState) -> None:
        if msg.name:
            self.get_logger().warning("cmd_allegro takes 16 positions in Allegro order, no names; ignoring")
            return
        goal = self._command(msg, allegro_to_leap)
        if goal is not None:
            self._preempt_trajectory()
            self._set_goal(goal)

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
        unknown = [n for n in names if n not in self._index]
        if unknown or len(set(names)) != len(names) or not goal.trajectory.points:
            self.get_logger().warning(f"rejecting trajectory over {names}: unknown joints {unknown}, "
                                      "repeated joints or no points")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute(self, handle):
        trajectory_msg = handle.request.trajectory
        columns = [self._index[n] for n in trajectory_msg.joint_names]
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
            self.hand.close()  # torque off
        finally:
            super().destroy_node()


def main(args=None) -> None:
    run_node(LeapHandDriver, args)


if __name__ == "__main__":
    main()
