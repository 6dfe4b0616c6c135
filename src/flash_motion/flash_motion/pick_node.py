"""The `flash_motion` pick node: a grasp in, a planned and executed pick out.

Subscribes: `object_cloud` (sensor_msgs/PointCloud2), `joint_states` (arm joints joint_1..7 and, if the hand
driver publishes there too, the hand joints), `pick_grasp` (flash_interfaces/Grasp: plan + execute that grasp).
Clouds and grasps may be in any frame TF knows (flash_ros.frames): they are converted to `base_frame` at their
header stamp; one in an unknown frame is reported on `pick_status` and dropped, and the node keeps serving.
Python callers can pass a ranked list (`plan_pick(grasps)`, e.g. a GenerateGrasp result) and `execute(plan)`.
Publishes: `pick_status` (std_msgs/String), one line per stage and the outcome.
Sends: arm segments to `arm_action` (ros2_kortex: /joint_trajectory_controller/follow_joint_trajectory) or, with
`executor:=kortex_api`, to Kinova's API in a worker process (flash_motion.kortex_executor; `kortex.*` parameters);
hand segments to `hand_action` (leap_hand_driver's follow_joint_trajectory); one segment at a time.

Parameters: see config/flash_motion.yaml.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
from action_msgs.msg import GoalStatus
from control_msgs.action import FollowJointTrajectory
from rclpy.action import ActionClient
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import String

from flash_core.geometry.rigid import transform_points
from flash_core.planning import ARM_JOINT_NAMES, PickConfig, PickPlan, PickResult, make_planner
from flash_core.planning.description import hand_joint_order
from flash_interfaces.msg import Grasp
from flash_motion.conversions import grasp_to_candidate, hand_trajectory_for_driver, trajectory_to_msg
from flash_motion.kortex_executor import KortexConfig, KortexError, KortexExecutor
from flash_ros import run_node
from flash_ros.cloud import read_points
from flash_ros.frames import FrameError, make_frame_lookup, stamp_to_seconds

LEAP_DRIVER_JOINT_NAMES = [str(i) for i in range(16)]  # leap_hand_driver's names (official LEAP numbering)
EXECUTORS = ("follow_joint_trajectory", "kortex_api")


class PickNode(Node):
    def __init__(self, **kwargs):
        super().__init__("flash_motion", **kwargs)
        defaults = PickConfig()
        self.declare_parameter("base_frame", "base_link")
        self.declare_parameter("planner", "ompl")
        self.declare_parameter("executor", "follow_joint_trajectory")
        kortex = KortexConfig()
        for name in ("python", "ip", "port", "username", "password", "use_optimal_blending"):
            self.declare_parameter(f"kortex.{name}", "" if name == "python" else getattr(kortex, name))
        self.declare_parameter("arm_action", "/joint_trajectory_controller/follow_joint_trajectory")
        self.declare_parameter("hand_action", "/leap_hand/follow_joint_trajectory")
        self.declare_parameter("hand_joint_names", LEAP_DRIVER_JOINT_NAMES)
        self.declare_parameter("pregrasp_distance_m", defaults.pregrasp_distance_m)
        self.declare_parameter("lift_m", defaults.lift_m)
        self.declare_parameter("hand_move_duration_s", defaults.hand_move_duration_s)
        self.declare_parameter("transform_timeout_s", 1.0)
        param = lambda name: self.get_parameter(name).value  # noqa: E731

        executor = param("executor")
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, got '{executor}'")
        self.base_frame = param("base_frame")
        self._frames = make_frame_lookup(self)
        self._transform_timeout_s = float(param("transform_timeout_s"))
        self.hand_joint_names = list(param("hand_joint_names"))
        self._hand_order = hand_joint_order(self.hand_joint_names)  # validates the names
        self.planner = make_planner(param("planner"), PickConfig(
            pregrasp_distance_m=float(param("pregrasp_distance_m")), lift_m=float(param("lift_m")),
            hand_move_duration_s=float(param("hand_move_duration_s"))))

        group = ReentrantCallbackGroup()
        self.arm_client = ActionClient(self, FollowJointTrajectory, param("arm_action"), callback_group=group)
        self.hand_client = ActionClient(self, FollowJointTrajectory, param("hand_action"), callback_group=group)
        self._status = self.create_publisher(String, "pick_status", 10)
        self.create_subscription(PointCloud2, "object_cloud", self._on_cloud, 1, callback_group=group)
        self.create_subscription(JointState, "joint_states", self._on_joint_states, 10, callback_group=group)
        self.create_subscription(Grasp, "pick_grasp", self._on_grasp, 1, callback_group=group)

        self._lock = threading.Lock()
        self._cloud: np.ndarray | None = None
        self._joints: dict[str, float] = {}
        self._busy = False
        # Arm segments go to Kinova's API in a worker process instead of FollowJointTrajectory; the hand
        # always goes to its driver's FollowJointTrajectory.
        self._kortex: KortexExecutor | None = None
        if executor == "kortex_api":
            self._kortex = KortexExecutor(KortexConfig(
                python=param("kortex.python") or sys.executable, ip=param("kortex.ip"), port=int(param("kortex.port")),
                username=param("kortex.username"), password=param("kortex.password"),
                use_optimal_blending=bool(param("kortex.use_optimal_blending"))))
            self._kortex.start()  # last in __init__: fails here, naming the reason, not at the first pick
        arm = f"kortex_api at {param('kortex.ip')}" if self._kortex else param("arm_action")
        self.get_logger().info(f"flash_motion ready: arm {arm}, hand {param('hand_action')}")

    def destroy_node(self) -> None:
        if self._kortex is not None:
            self._kortex.close()
        super().destroy_node()

    # --- inputs ---
    def base_from(self, header) -> np.ndarray:
        """T_base_frame (4, 4) for a message header, at its stamp (zero stamp: latest); raises FrameError."""
        if header.frame_id == self.base_frame:
            return np.eye(4)
        if not header.frame_id:
            raise FrameError(f"the message has an empty frame_id (expected a frame TF connects to '{self.base_frame}')")
        return self._frames.lookup(self.base_frame, header.frame_id, stamp_to_seconds(header.stamp),
                                   self._transform_timeout_s)

    def _on_cloud(self, msg: PointCloud2) -> None:
        try:
            base_from_cloud = self.base_from(msg.header)
        except FrameError as exc:
            self.report(f"ignoring object cloud: {exc}")
            return
        points = transform_points(base_from_cloud, read_points(msg)["xyz"].astype(float))
        with self._lock:
            self._cloud = points

    def _on_joint_states(self, msg: JointState) -> None:
        with self._lock:
            self._joints.update(zip(msg.name, msg.position))

    def _on_grasp(self, grasp: Grasp) -> None:
        with self._lock:
            if self._busy:
                self.report(f"busy: grasp '{grasp.id}' ignored")
                return
            self._busy = True
        try:
            result = self.plan_pick([grasp])
        except (ValueError, RuntimeError, FrameError) as exc:  # bad input, unknown frame or planner failure
            result, reason = None, str(exc)
        else:
            reason = f"no feasible plan: {result.rejected}"
        if result is None or not result.success:
            self.report(f"failed: {reason}")
            self._set_idle()
            return
        self.execute(result.plan).add_done_callback(lambda _: self._set_idle())

    def _set_idle(self) -> None:
        with self._lock:
            self._busy = False

    def report(self, text: str) -> None:
        self.get_logger().info(text)
        self._status.publish(String(data=text))

    # --- planning and execution ---
    def current_state(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(arm q (7,), hand q (16,) in planner order or None) from the latest joint states."""
        with self._lock:
            joints = dict(self._joints)
        missing = [n for n in ARM_JOINT_NAMES if n not in joints]
        if missing:
            raise ValueError(f"no joint_states yet for arm joints {missing}")
        arm = np.array([joints[n] for n in ARM_JOINT_NAMES])
        if all(n in joints for n in self.hand_joint_names):
            return arm, np.array([joints[n] for n in self.hand_joint_names])[self._hand_order]
        return arm, None

    def plan_pick(self, grasps: list[Grasp]) -> PickResult:
        """Plan for ranked grasps (first feasible wins) with the latest cloud and joint states."""
        with self._lock:
            cloud = self._cloud
        if cloud is None:
            raise ValueError("no object_cloud received yet")
        arm_q, hand_q = self.current_state()
        if hand_q is None:
            self.get_logger().warning("hand joints not in joint_states: assuming the hand is open")
        candidates = [grasp_to_candidate(g, self.base_from(g.wrist_pose.header)) for g in grasps]
        self.report(f"planning {len(candidates)} candidate(s) against {len(cloud)} object points")
        return self.planner.plan_pick(candidates, cloud, arm_q, hand_q)

    def execute(self, plan: PickPlan) -> Future:
        """Send the plan's segments one after the other; the future ends with (success, message)."""
        done = Future()
        segments = [s for s in plan.segments if s.trajectory.duration_s > 0.0]

        def fail(text: str) -> None:
            self.report(f"failed: {text}")
            done.set_result((False, text))

        def send(index: int) -> None:
            if index == len(segments):
                self.report("succeeded: pick executed")
                done.set_result((True, "pick executed"))
                return
            segment = segments[index]
            is_arm = segment.trajectory.joint_names == tuple(ARM_JOINT_NAMES)
            if is_arm and self._kortex is not None:
                self.report(f"executing {segment.name} ({segment.trajectory.duration_s:.2f} s) through kortex_api")
                threading.Thread(target=run_on_kortex, args=(index,), daemon=True).start()
                return
            if is_arm:
                client, msg = self.arm_client, trajectory_to_msg(segment.trajectory)
            else:
                client, msg = self.hand_client, hand_trajectory_for_driver(segment.trajectory,
                                                                           self.hand_joint_names)
            if not client.wait_for_server(timeout_sec=2.0):
                fail(f"{segment.name}: no FollowJointTrajectory server on {client._action_name}")
                return
            self.report(f"executing {segment.name} ({segment.trajectory.duration_s:.2f} s)")
            future = client.send_goal_async(FollowJointTrajectory.Goal(trajectory=msg))
            future.add_done_callback(lambda f: accepted(index, f))

        def run_on_kortex(index: int) -> None:  # blocks until the arm ends the segment: its own thread
            try:
                self._kortex.execute(segments[index].trajectory)
            except KortexError as exc:
                fail(f"{segments[index].name}: {exc}")
                return
            send(index + 1)

        def accepted(index: int, future) -> None:
            handle = future.result()
            if not handle.accepted:
                fail(f"{segments[index].name}: goal rejected by the controller")
                return
            handle.get_result_async().add_done_callback(lambda f: finished(index, f))

        def finished(index: int, future) -> None:
            response = future.result()
            if response.status != GoalStatus.STATUS_SUCCEEDED or response.result.error_code != 0:
                fail(f"{segments[index].name}: controller returned error {response.result.error_code} "
                     f"'{response.result.error_string}'")
                return
            send(index + 1)

        send(0)
        return done


def main(args=None) -> None:
    run_node(PickNode, args)


if __name__ == "__main__":
    main()
