"""The `flash_motion` pick node: the `pick` action (flash_interfaces/Pick) plans and executes a pick.

Action server `pick`: goal = ranked grasps (first feasible wins), or indices into the last GenerateGrasp result,
and the scene (target cloud, obstacle cloud, table plane; empty ones mean the latest received on the topics
below, and no table plane ever received means the fixed table of the config); feedback = the stage ("planning",
then each segment); result = success, reason, the executed grasp's index and the seconds spent per stage. Cancel stops
the arm and hand where they are: the running FollowJointTrajectory goal (or the Kortex action) is cancelled and
no later segment is sent. One goal at a time: a goal arriving while one runs is rejected.
Subscribes: `object_cloud`, `obstacle_cloud` (sensor_msgs/PointCloud2) and `table_plane` (PoseStamped, latched),
all flash_perception's; `generated_grasps` (flash_interfaces/GraspSet, latched: the grasp server's last result);
`joint_states` (arm joints joint_1..7 and, if the hand driver publishes there too, the hand joints).
Clouds and grasps may be in any frame TF knows (flash_ros.frames): they are converted to `base_frame` at their
header stamp; a goal in an unknown frame is aborted with the reason, and the node keeps serving.
Hand joints are named and ordered as the hand spec names them ("0".."15" for LEAP) everywhere on the ROS side;
only the planner (its kinematic model's order) reorders, at its boundary (GraspCandidate.from_named_joints).
Sends: arm segments to `arm_action` (ros2_kortex: /joint_trajectory_controller/follow_joint_trajectory) or, with
`executor:=kortex_api`, to Kinova's API in a worker process (flash_motion.kortex_executor; `kortex.*` parameters);
hand segments to `hand_action` (leap_hand_driver's follow_joint_trajectory); one segment at a time.

Parameters: see config/flash_motion.yaml.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from action_msgs.msg import GoalStatus
from control_msgs.action import FollowJointTrajectory
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import JointState, PointCloud2

from flash_core.geometry.rigid import transform_points
from flash_core.hands.spec import load_spec
from flash_core.planning import ARM_JOINT_NAMES, PickConfig, PickPlan, PickResult, make_planner
from flash_core.planning.description import hand_joint_order
from flash_interfaces.action import Pick
from flash_interfaces.msg import GraspSet
from flash_motion.conversions import grasp_to_candidate, hand_trajectory_for_driver, trajectory_to_msg
from flash_motion.kortex_executor import KortexConfig, KortexError, KortexExecutor
from flash_ros import run_node
from flash_ros.action_goals import RESULT_REQUEST_PERIOD_S, handle_by_id, new_goal_id
from flash_ros.cloud import read_points
from flash_ros.frames import FrameError, make_frame_lookup, pose_to_matrix, stamp_to_seconds
from flash_ros.qos import LATCHED
from flash_ros.waiting import wait_for

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
        self.declare_parameter("hand_joint_names", list(load_spec("leap").joint_names))
        self.declare_parameter("pregrasp_distance_m", defaults.pregrasp_distance_m)
        self.declare_parameter("lift_m", defaults.lift_m)
        self.declare_parameter("hand_move_duration_s", defaults.hand_move_duration_s)
        self.declare_parameter("squeeze_fraction", defaults.squeeze_fraction)
        self.declare_parameter("retreat_to_start", defaults.retreat_to_start)
        self.declare_parameter("transform_timeout_s", 1.0)
        # How long a segment waits for its controller's action server to be discovered (DDS discovery of a
        # controller that just started, or on a loaded machine, takes seconds).
        self.declare_parameter("controller_timeout_s", 5.0)
        # A segment whose result has not come after scaling x its duration + margin is cancelled and fails (MoveIt's
        # allowed_execution_duration_scaling 1.2, allowed_goal_duration_margin 0.5 s; the margin is 1 s here as the
        # result crosses DDS from another process, on machines that may be loaded).
        self.declare_parameter("execution_duration_scaling", 1.2)
        self.declare_parameter("execution_margin_s", 1.0)
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
            hand_move_duration_s=float(param("hand_move_duration_s")),
            squeeze_fraction=float(param("squeeze_fraction")), retreat_to_start=bool(param("retreat_to_start"))))

        self._controller_timeout_s = float(param("controller_timeout_s"))
        self._execution_scaling = float(param("execution_duration_scaling"))
        self._execution_margin_s = float(param("execution_margin_s"))
        if self._controller_timeout_s <= 0.0 or self._execution_scaling < 1.0 or self._execution_margin_s < 0.0:
            raise ValueError(f"controller_timeout_s must be > 0, execution_duration_scaling >= 1 and "
                             f"execution_margin_s >= 0, got {self._controller_timeout_s}, {self._execution_scaling} "
                             f"and {self._execution_margin_s}")
        # Reentrant: the goal's coroutine awaits action responses and wait_for's deadline timers in this group.
        group = self._group = ReentrantCallbackGroup()
        self.arm_client = ActionClient(self, FollowJointTrajectory, param("arm_action"), callback_group=group)
        self.hand_client = ActionClient(self, FollowJointTrajectory, param("hand_action"), callback_group=group)
        self.create_subscription(PointCloud2, "object_cloud", lambda m: self._on_cloud("object", m), 1,
                                 callback_group=group)
        self.create_subscription(PointCloud2, "obstacle_cloud", lambda m: self._on_cloud("obstacles", m), 1,
                                 callback_group=group)
        self.create_subscription(JointState, "joint_states", self._on_joint_states, 10, callback_group=group)
        self.create_subscription(PoseStamped, "table_plane", self._on_table_plane, LATCHED, callback_group=group)
        self.create_subscription(GraspSet, "generated_grasps", self._on_generated, LATCHED, callback_group=group)

        self._lock = threading.Lock()
        self._clouds: dict[str, np.ndarray] = {}  # "object" / "obstacles" -> (N, 3) base frame
        self._joints: dict[str, float] = {}
        self._table_plane: PoseStamped | None = None  # latest received; converted to the base frame per goal
        self._generated: GraspSet | None = None
        self._busy = False
        self._stop_segment = None  # cancels the running segment (set while one runs)
        self._server: ActionServer | None = None  # last: __init__ may fail before (kortex_api start)
        # Arm segments go to Kinova's API in a worker process instead of FollowJointTrajectory; the hand
        # always goes to its driver's FollowJointTrajectory.
        self._kortex: KortexExecutor | None = None
        if executor == "kortex_api":
            self._kortex = KortexExecutor(KortexConfig(
                python=param("kortex.python") or sys.executable, ip=param("kortex.ip"), port=int(param("kortex.port")),
                username=param("kortex.username"), password=param("kortex.password"),
                use_optimal_blending=bool(param("kortex.use_optimal_blending"))))
            self._kortex.start()  # fails here, naming the reason, not at the first pick
        self._server = ActionServer(self, Pick, "pick", execute_callback=self._execute,
                                    goal_callback=self._on_goal, cancel_callback=self._on_cancel,
                                    callback_group=group)
        arm = f"kortex_api at {param('kortex.ip')}" if self._kortex else param("arm_action")
        self.get_logger().info(f"flash_motion ready: arm {arm}, hand {param('hand_action')}")

    def destroy_node(self) -> None:
        # Action servers and clients are waitables, which Node.destroy_node leaves alone.
        if self._server is not None:
            self._server.destroy()
        self.arm_client.destroy()
        self.hand_client.destroy()
        if self._kortex is not None:
            self._kortex.close()
        super().destroy_node()

    # --- inputs ---
    def base_from(self, header) -> np.ndarray:
        """T_base_frame (4, 4) for a message header, at its stamp (zero stamp: latest); raises FrameError."""
        if not header.frame_id:
            raise FrameError(f"the message has an empty frame_id (expected a frame TF connects to '{self.base_frame}')")
        return self._frames.lookup(self.base_frame, header.frame_id, stamp_to_seconds(header.stamp),
                                   self._transform_timeout_s)

    def cloud_in_base(self, msg: PointCloud2) -> np.ndarray:
        """(N, 3) points of a cloud in the base frame; raises FrameError or ValueError."""
        return transform_points(self.base_from(msg.header), read_points(msg)["xyz"].astype(float))

    def _on_cloud(self, kind: str, msg: PointCloud2) -> None:
        if msg.width * msg.height == 0:  # perception's way of saying "none now" (no obstacles, target lost)
            with self._lock:
                self._clouds[kind] = np.zeros((0, 3))
            return
        try:
            points = self.cloud_in_base(msg)
        except (FrameError, ValueError) as exc:
            self.get_logger().warning(f"ignoring {kind} cloud: {exc}")
            return
        with self._lock:
            self._clouds[kind] = points

    def _on_table_plane(self, msg: PoseStamped) -> None:
        with self._lock:
            self._table_plane = msg

    def _on_generated(self, msg: GraspSet) -> None:
        with self._lock:
            self._generated = msg

    def _on_joint_states(self, msg: JointState) -> None:
        with self._lock:
            self._joints.update(zip(msg.name, msg.position))

    # --- the pick action ---
    def _on_goal(self, goal: Pick.Goal) -> GoalResponse:
        with self._lock:
            if self._busy:
                self.get_logger().warning("pick goal rejected: another pick is running")
                return GoalResponse.REJECT
            self._busy = True
        return GoalResponse.ACCEPT

    def _on_cancel(self, _goal_handle) -> CancelResponse:
        stop = self._stop_segment
        if stop is not None:
            stop()
        return CancelResponse.ACCEPT

    async def _execute(self, goal_handle) -> Pick.Result:
        try:
            return await self._pick(goal_handle)
        finally:
            with self._lock:
                self._busy = False

    async def _pick(self, goal_handle) -> Pick.Result:
        goal: Pick.Goal = goal_handle.request
        result = Pick.Result(success=False, grasp_index=-1)

        def finish(reason: str, *, succeeded: bool = False) -> Pick.Result:
            result.success, result.reason = succeeded, reason
            if succeeded:
                goal_handle.succeed()
            elif goal_handle.is_cancel_requested:
                goal_handle.canceled()
            else:
                goal_handle.abort()
            self.get_logger().info(f"pick {'succeeded' if succeeded else 'failed'}: {reason}")
            return result

        goal_handle.publish_feedback(Pick.Feedback(stage="planning"))
        began = time.perf_counter()
        try:
            grasps, indices = self._goal_grasps(goal)
            object_points = self._goal_cloud(goal.object_cloud, "object")
            obstacle_points = self._goal_cloud(goal.obstacle_cloud, "obstacles")
            table_plane = self._goal_table_plane(goal.table_plane)
            planned = self.plan_pick(grasps, object_points, obstacle_points, table_plane)
        except (ValueError, RuntimeError, FrameError) as exc:  # bad input, unknown frame or planner failure
            return finish(str(exc))
        result.stage_names.append("planning")
        result.stage_times_s.append(time.perf_counter() - began)
        if not planned.success:
            return finish(f"no feasible plan: {planned.rejected}")
        result.grasp_index = indices[planned.plan.candidate_index]
        for segment in [s for s in planned.plan.segments if s.trajectory.duration_s > 0.0]:
            if goal_handle.is_cancel_requested:
                return finish(f"canceled before {segment.name}")
            goal_handle.publish_feedback(Pick.Feedback(stage=segment.name))
            began = time.perf_counter()
            error = await self._run_segment(segment, lambda: goal_handle.is_cancel_requested)
            result.stage_names.append(segment.name)
            result.stage_times_s.append(time.perf_counter() - began)
            if goal_handle.is_cancel_requested:
                detail = f" ({error})" if error else ""
                return finish(f"canceled during {segment.name}: arm and hand stopped{detail}")
            if error:
                return finish(f"{segment.name}: {error}")
        return finish("pick executed", succeeded=True)

    def _goal_grasps(self, goal: Pick.Goal) -> tuple[list, list[int]]:
        """(grasps to try, in order; each one's index for the result): the goal's own grasps, or those its
        grasp_indices name in the last GenerateGrasp result received; raises ValueError naming the problem."""
        if goal.grasps:
            if len(goal.grasp_indices):
                raise ValueError("give either grasps or grasp_indices, not both")
            return list(goal.grasps), list(range(len(goal.grasps)))
        indices = [int(i) for i in goal.grasp_indices]
        if not indices:
            raise ValueError("the goal has no grasps and no grasp_indices")
        with self._lock:
            generated = self._generated
        if generated is None:
            raise ValueError("grasp_indices given, but no GenerateGrasp result was received on generated_grasps")
        bad = [i for i in indices if not 0 <= i < len(generated.grasps)]
        if bad:
            raise ValueError(f"grasp_indices {bad} out of range: the last GenerateGrasp result "
                             f"('{generated.prompt}') has {len(generated.grasps)} grasps")
        return [generated.grasps[i] for i in indices], indices

    def _goal_table_plane(self, msg: PoseStamped) -> np.ndarray | None:
        """The table plane (4, 4) in the base frame: the goal's, else the latest received, else None (the
        config's fixed table)."""
        if not msg.header.frame_id:
            with self._lock:
                msg = self._table_plane
            if msg is None:
                return None
        return self.base_from(msg.header) @ pose_to_matrix(msg.pose)

    def _goal_cloud(self, msg: PointCloud2, kind: str) -> np.ndarray:
        """A goal's cloud in the base frame; an empty message means the latest received (none: no points)."""
        if not msg.fields:
            with self._lock:
                return self._clouds.get(kind, np.zeros((0, 3)))
        return self.cloud_in_base(msg)

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

    def plan_pick(self, grasps, object_points_m: np.ndarray | None = None,
                  obstacle_points_m: np.ndarray | None = None,
                  table_plane_pose: np.ndarray | None = None) -> PickResult:
        """Plan for ranked flash_interfaces/Grasp messages (first feasible wins) with the latest joint states;
        clouds (N, 3) in the base frame default to the latest received; table_plane_pose (4, 4) in the base
        frame (None: the config's fixed table)."""
        if object_points_m is None:
            object_points_m = self._goal_cloud(PointCloud2(), "object")
        if obstacle_points_m is None:
            obstacle_points_m = self._goal_cloud(PointCloud2(), "obstacles")
        if len(object_points_m) == 0:
            raise ValueError("no object cloud: none in the goal and none received on object_cloud")
        arm_q, hand_q = self.current_state()
        if hand_q is None:
            self.get_logger().warning("hand joints not in joint_states: assuming the hand is open")
        candidates = [grasp_to_candidate(g, self.base_from(g.wrist_pose.header)) for g in grasps]
        self.get_logger().info(f"planning {len(candidates)} candidate(s) against {len(object_points_m)} object "
                               f"and {len(obstacle_points_m)} obstacle points")
        return self.planner.plan_pick(candidates, object_points_m, arm_q, hand_q, obstacle_points_m=obstacle_points_m,
                                      table_plane_pose=table_plane_pose)

    async def _run_segment(self, segment, is_cancelled=lambda: False) -> str:
        """Execute one segment; '' on success, else the reason. Sets self._stop_segment while it runs, and
        calls it at once when a cancel came in before the controller accepted the segment."""
        is_arm = segment.trajectory.joint_names == tuple(ARM_JOINT_NAMES)
        if is_arm and self._kortex is not None:
            return await self._run_on_kortex(segment, is_cancelled)
        if is_arm:
            client, msg = self.arm_client, trajectory_to_msg(segment.trajectory)
        else:
            client, msg = self.hand_client, hand_trajectory_for_driver(segment.trajectory, self.hand_joint_names)
        timeout_s = self._controller_timeout_s
        if not client.wait_for_server(timeout_sec=timeout_s):
            return f"no FollowJointTrajectory server on {client._action_name}"
        self.get_logger().info(f"executing {segment.name} ({segment.trajectory.duration_s:.2f} s)")
        goal_id = new_goal_id()
        sent = client.send_goal_async(FollowJointTrajectory.Goal(trajectory=msg), goal_uuid=goal_id)
        if await wait_for(self, sent, timeout_s, self._group):
            handle = sent.result()
            if not handle.accepted:
                return "goal rejected by the controller"
        else:
            # The answer can be lost while the goal runs (flash_ros.action_goals): follow the goal by its id.
            self.get_logger().warning(f"{segment.name}: no answer to the goal on {client._action_name} within "
                                      f"{timeout_s:.1f} s; asking for its result by id")
            handle = handle_by_id(client, FollowJointTrajectory, goal_id)
        self._stop_segment = handle.cancel_goal_async
        if is_cancelled():
            handle.cancel_goal_async()
        limit_s = segment.trajectory.duration_s * self._execution_scaling + self._execution_margin_s
        try:
            response = await self._await_result(handle, limit_s)
        finally:
            self._stop_segment = None
        if response is None:
            handle.cancel_goal_async()
            return (f"no result from the controller within {limit_s:.2f} s ({self._execution_scaling} x the "
                    f"segment's {segment.trajectory.duration_s:.2f} s + {self._execution_margin_s} s): cancelled")
        if response.status == GoalStatus.STATUS_UNKNOWN:
            return f"the controller on {client._action_name} did not answer the goal and does not know it"
        if response.status != GoalStatus.STATUS_SUCCEEDED or response.result.error_code != 0:
            return (f"controller ended with status {response.status}, error {response.result.error_code} "
                    f"'{response.result.error_string}'")
        return ""

    async def _await_result(self, handle, limit_s: float):
        """The goal's result response, or None when none came within `limit_s` (node clock). The result is asked
        for again every RESULT_REQUEST_PERIOD_S (flash_ros.action_goals): a lost response would otherwise hang the
        goal."""
        started = self.get_clock().now()
        request = handle.get_result_async()
        while True:
            left_s = limit_s - (self.get_clock().now() - started).nanoseconds * 1e-9
            if left_s <= 0.0:
                return None
            if await wait_for(self, request, min(left_s, RESULT_REQUEST_PERIOD_S), self._group):
                return request.result()
            request = handle.get_result_async()

    async def _run_on_kortex(self, segment, is_cancelled) -> str:
        """The Kortex call blocks until the arm ends the segment: it runs in its own thread, which wakes the
        executor through a guard condition (the thread-safe way in) to complete the awaited future."""
        done, outcome = Future(), []
        wake = self.create_guard_condition(lambda: done.set_result(outcome[0]))

        def run() -> None:
            try:
                self._kortex.execute(segment.trajectory, should_stop=is_cancelled)
                outcome.append("")
            except KortexError as exc:
                outcome.append(str(exc))
            wake.trigger()

        self.get_logger().info(f"executing {segment.name} ({segment.trajectory.duration_s:.2f} s) through kortex_api")
        self._stop_segment = self._kortex.stop
        threading.Thread(target=run, daemon=True).start()  # a cancel before the arm has it: execute stops it
        try:
            return await done
        finally:
            self._stop_segment = None
            self.destroy_guard_condition(wake)

    def execute(self, plan: PickPlan) -> Future:
        """Python callers: run a plan's segments outside the action; the future ends with (success, message)."""
        done = Future()

        async def run() -> None:
            for segment in [s for s in plan.segments if s.trajectory.duration_s > 0.0]:
                error = await self._run_segment(segment)
                if error:
                    done.set_result((False, f"{segment.name}: {error}"))
                    return
            done.set_result((True, "pick executed"))

        self.executor.create_task(run())
        return done


def main(args=None) -> None:
    run_node(PickNode, args)


if __name__ == "__main__":
    main()
