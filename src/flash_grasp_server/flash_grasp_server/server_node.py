"""The GenerateGrasp action server.

Thin by design: it parses parameters and messages, checks requests with flash_core.grasp_request, calls
flash_core's GraspGenerator and publishes. Every goal ends in a result with an error code and a message (any
exception included); a bad goal never takes the node down.

Queue policy (goal_queue.GoalQueue): one goal runs at a time; up to max_waiting_goals more wait, first come first
served, holding no executor thread, and further goals are rejected. Each goal is checked on arrival, so a bad goal
fails at once instead of after the goals ahead of it; a waiting goal that is cancelled or whose budget runs out ends
within a tick of the queue timer (20 ms), which ticks only while goals wait: at 50 Hz all the time it took 6 % of a
core from an idle server, and on 2 cores any such load slows the model's two threads. The time budget counts from
acceptance, waiting included. Results report the function evaluations used, also when cancelled or timed out. On
SIGINT/SIGTERM (Ctrl-C) the running and waiting goals end with INTERNAL_ERROR "the server is shutting down" before
ROS shuts down.

Frames: the object cloud may be in any frame (its header.frame_id must be set). With a goal's target_frame set (and
different), the cloud (points and normals) is transformed into it through TF (flash_ros.frames) at the cloud's
stamp and the grasps are generated there, so poses, approach directions, hand parameters and markers all come back
in target_frame. A frame TF cannot connect gives INVALID_GOAL naming it.

Parameters (config/grasp_server.yaml):
    checkpoint          path to a FLASH checkpoint folder; empty: the packaged default model
    hand                default hand when a goal names none ("leap")
    num_grasps          default number of grasps (8)
    max_num_grasps      largest num_grasps served (256)
    min_points          fewest usable object points served (32)
    max_points          most object points served (100000)
    max_waiting_goals   goals that may wait behind the running one (8)
    device              torch device ("cpu", "cuda")
    solver_method       ODE method: "euler" (default), "midpoint", "rk4", "dopri5", "dopri8"
    solver_steps        steps for fixed-step methods (8)
    settle              settle each grasp on the cloud (flash_core.model.settle: the open hand slid along its approach
                        onto the surface, fingers closed until they touch; ranked by opposition) and send the open
                        hand as its approach shape, as settling assumes (true)
    object_topic        latest segmented object cloud, used when a goal sets use_latest_object
    marker_topic        RViz markers of the last result
    table_topic         the table the objects rest on (geometry_msgs/PoseStamped, latched: flash_perception's
                        table_plane; "" = none): grasps start above it, settle off it, and rank last through it
    generated_topic     every successful result's grasps (flash_interfaces/GraspSet, latched): Pick goals name
                        grasps by index into the last one
    transform_timeout_s how long a goal waits for the cloud -> target_frame transform
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import PointCloud2
from visualization_msgs.msg import MarkerArray

from flash_core.flow.solver import SamplingCancelled
from flash_core.generator import GraspGenerator
from flash_core.geometry.rigid import rotate_vectors, transform_points
from flash_core.geometry.support_plane import SupportPlane
from flash_core.grasp_request import (
    InvalidRequest,
    NoUsableObject,
    RequestLimits,
    check_num_grasps,
    check_time_budget,
    clean_object_cloud,
    count_nonfinite_grasps,
)
from flash_grasp_server.goal_queue import GoalQueue
from flash_grasp_server.grasp_msgs import grasp_to_msg, grasps_to_markers
from flash_interfaces.action import GenerateGrasp
from flash_interfaces.msg import GraspSet
from flash_ros import run_node
from flash_ros.cloud import CloudError, NoPointsError, read_points
from flash_ros.frames import FrameError, make_frame_lookup, pose_to_matrix, stamp_to_seconds
from flash_ros.qos import LATCHED

Result = GenerateGrasp.Result
# How often waiting goals are checked for a cancel or an expired budget.
QUEUE_TICK_S = 0.02
# On SIGINT/SIGTERM: how long the goals get to end (one evaluation, or a non-interruptible encoding/ranking
# stage), and then how long the executor gets to send their results before ROS shuts down.
SHUTDOWN_GRACE_S, RESULT_SEND_S = 5.0, 0.3


class ServerStartError(RuntimeError):
    """The server cannot start (no model); main() prints the message alone."""


@dataclass
class _Request:
    """A goal as checked on arrival: the cloud as points in its own frame, or the error to answer with."""

    accepted_s: float  # time.monotonic() at acceptance
    deadline_s: float  # time.monotonic() at which the budget runs out (inf: no budget)
    error: tuple[int, str] | None = None
    points: np.ndarray | None = None  # (N, 3) float32 in `frame`
    normals: np.ndarray | None = None  # (N, 3) unit, or None
    dropped: int = 0  # cloud rows dropped for NaN/inf
    frame: str = ""
    stamp: Time | None = None  # None for an unstamped cloud
    num_grasps: int = 0


class _Stopped(Exception):
    """The goal was cancelled, ran out of time, or the server is shutting down."""


class GraspServer(Node):
    def __init__(self, **kwargs):
        super().__init__("flash_grasp_server", **kwargs)
        self.declare_parameter("checkpoint", "")
        self.declare_parameter("hand", "leap")
        self.declare_parameter("num_grasps", 8)
        self.declare_parameter("max_num_grasps", RequestLimits.max_num_grasps)
        self.declare_parameter("min_points", RequestLimits.min_points)
        self.declare_parameter("max_points", RequestLimits.max_points)
        self.declare_parameter("max_waiting_goals", 8)
        self.declare_parameter("device", "cpu")
        # 8 Euler steps: 16 grasps in ~1.2 s with settling on 2 cores (16 steps: ~2.0 s), and as often in force closure
        # as the 16 that flash demo and the report use (docs/benchmarks.md)
        self.declare_parameter("solver_method", "euler")
        self.declare_parameter("solver_steps", 8)
        self.declare_parameter("settle", True)
        self.declare_parameter("object_topic", "object_cloud")
        self.declare_parameter("marker_topic", "grasp_markers")
        self.declare_parameter("generated_topic", "generated_grasps")
        self.declare_parameter("table_topic", "table_plane")
        self.declare_parameter("transform_timeout_s", 1.0)
        param = lambda name: self.get_parameter(name).value  # noqa: E731

        checkpoint = param("checkpoint") or None  # None: the packaged default model
        try:
            self._limits = RequestLimits(max_num_grasps=int(param("max_num_grasps")),
                                         min_points=int(param("min_points")), max_points=int(param("max_points")))
            self._generator = GraspGenerator.from_checkpoint(checkpoint, device=param("device"))
        except (OSError, ValueError, KeyError) as exc:
            raise ServerStartError(str(exc)) from exc
        hand = self._generator.hand
        # Per-hand constants of the messages: the closing direction and the approach shape.
        self._palm_direction = hand.palm_frame().normal.cpu().numpy()
        self._settle = bool(param("settle"))
        # Settled grasps are reached by the open hand (the approach they were settled for).
        self._pregrasp_joints = (hand.open_joints() if self._settle else hand.pregrasp_joints()).cpu().numpy()
        self._default_hand = param("hand")
        self._default_num = int(param("num_grasps"))
        self._solver = {"method": param("solver_method"), "steps": int(param("solver_steps"))}
        self._latest_object: PointCloud2 | None = None
        self._frames = make_frame_lookup(self)
        self._transform_timeout_s = float(param("transform_timeout_s"))
        self._queue = GoalQueue(int(param("max_waiting_goals")))
        self._requests: dict[bytes, _Request] = {}
        self._requests_lock = threading.Lock()
        self._stopping = threading.Event()

        group = ReentrantCallbackGroup()
        self.create_subscription(PointCloud2, param("object_topic"), self._on_object, 1, callback_group=group)
        self._markers = self.create_publisher(MarkerArray, param("marker_topic"), 1)
        self._generated = self.create_publisher(GraspSet, param("generated_topic"), LATCHED)
        self._table: PoseStamped | None = None
        if param("table_topic"):
            self.create_subscription(PoseStamped, param("table_topic"), self._on_table, LATCHED,
                                     callback_group=group)
        self._server = ActionServer(
            self, GenerateGrasp, "generate_grasp", self._execute,
            goal_callback=self._on_goal,
            handle_accepted_callback=self._on_accepted,
            cancel_callback=lambda _handle: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self._tick_lock = threading.Lock()  # the tick stops only while no goal waits (_on_accepted, _on_tick)
        self._tick = self.create_timer(QUEUE_TICK_S, self._on_tick, callback_group=group)
        self._tick.cancel()
        self.get_logger().info(f"serving generate_grasp: {hand.name} hand, "
                               f"checkpoint {checkpoint or 'packaged default'}")

    def _on_object(self, msg: PointCloud2) -> None:
        self._latest_object = msg

    def _on_table(self, msg: PoseStamped) -> None:
        self._table = msg

    def _support_plane(self, frame: str) -> SupportPlane | None:
        """The latest table plane in `frame`, or None (none received, or no transform: then grasps are
        generated as for an object in free space, and the pick planner still keeps the hand off the table)."""
        table = self._table
        if table is None:
            return None
        try:
            frame_from_table = self._frames.lookup(frame, table.header.frame_id, None, self._transform_timeout_s)
            return SupportPlane.from_pose(frame_from_table @ pose_to_matrix(table.pose))
        except (FrameError, ValueError) as exc:
            self.get_logger().warning(f"table plane not used: {exc}")
            return None

    def _on_goal(self, _goal) -> GoalResponse:
        if self._queue.has_room():
            return GoalResponse.ACCEPT
        self.get_logger().warning(f"goal rejected: {self._queue.capacity} goals are already waiting")
        return GoalResponse.REJECT

    def _on_accepted(self, handle) -> None:
        try:
            request = self._check(handle.request)
        except Exception as exc:  # the goal still gets a result that names the failure
            request = _Request(accepted_s=time.monotonic(), deadline_s=math.inf,
                               error=(Result.INTERNAL_ERROR, f"internal error checking the goal: {exc!r}"))
        with self._requests_lock:
            self._requests[bytes(handle.goal_id.uuid)] = request
        with self._tick_lock:
            self._queue.put(handle, request.deadline_s, start_now=request.error is not None)
            if self._queue.has_waiting():
                self._tick.reset()

    def _on_tick(self) -> None:
        self._queue.dispatch()
        with self._tick_lock:
            if not self._queue.has_waiting():
                self._tick.cancel()

    def _check(self, goal: GenerateGrasp.Goal) -> _Request:
        """Everything about a goal that needs neither TF nor the model."""
        now = time.monotonic()
        budget_s = goal.time_budget.sec + goal.time_budget.nanosec * 1e-9
        request = _Request(accepted_s=now, deadline_s=math.inf)
        try:
            budget_s = check_time_budget(budget_s)
            request.deadline_s = now + budget_s if budget_s is not None else math.inf
            request.num_grasps = check_num_grasps(goal.num_grasps, self._default_num, self._limits)
            if not goal.prompt.strip():
                raise InvalidRequest("the prompt is empty")
            hand = goal.hand_name or self._default_hand
            if hand != self._generator.hand.name:
                request.error = (Result.UNKNOWN_HAND, f"hand {hand!r} is not served here; this model is for "
                                                      f"{self._generator.hand.name!r}")
                return request
            cloud_msg = self._latest_object if goal.use_latest_object else goal.object_cloud
            if cloud_msg is None:
                raise NoUsableObject("use_latest_object is set but no object cloud has been received")
            if not cloud_msg.header.frame_id:
                raise InvalidRequest("the object cloud's header.frame_id is empty: say which frame its points are in")
            try:
                fields = read_points(cloud_msg, extra_fields=("normal_x", "normal_y", "normal_z"))
            except NoPointsError as exc:
                raise NoUsableObject(f"object cloud: {exc}") from exc
            except CloudError as exc:
                raise InvalidRequest(f"object cloud: {exc}") from exc
            cloud = clean_object_cloud(fields["xyz"], _normals(fields), self._limits)
        except NoUsableObject as exc:
            request.error = (Result.NO_OBJECT, str(exc))
            return request
        except InvalidRequest as exc:
            request.error = (Result.INVALID_GOAL, str(exc))
            return request
        request.points, request.normals = cloud.points, cloud.normals
        request.dropped = cloud_msg.width * cloud_msg.height - len(cloud.points)
        request.frame = cloud_msg.header.frame_id
        request.stamp = cloud_msg.header.stamp if stamp_to_seconds(cloud_msg.header.stamp) is not None else None
        return request

    def _execute(self, handle) -> GenerateGrasp.Result:
        with self._requests_lock:
            request = self._requests.pop(bytes(handle.goal_id.uuid))
        evaluations = [0]
        try:
            return self._run(handle, request, evaluations)
        except _Stopped:
            return self._finish(handle, request, *self._stop_reason(handle, request), nfe=evaluations[0])
        except Exception as exc:  # any failure ends the goal with a result that names it, never a bare abort
            self.get_logger().error(f"goal failed with {exc!r}")
            return self._finish(handle, request, Result.INTERNAL_ERROR, f"internal error: {exc!r}",
                                nfe=evaluations[0])
        finally:
            self._queue.done(handle)

    def _run(self, handle, request: _Request, evaluations: list[int]) -> GenerateGrasp.Result:
        goal: GenerateGrasp.Goal = handle.request
        if request.error is not None:
            return self._finish(handle, request, *request.error)
        if not self._should_continue(handle, request):
            raise _Stopped()
        handle.publish_feedback(GenerateGrasp.Feedback(stage="validating", progress=0.0))
        points, normals, frame = request.points, request.normals, request.frame
        if goal.target_frame and goal.target_frame != frame:
            stamp_s = None if request.stamp is None else stamp_to_seconds(request.stamp)
            try:
                target_from_cloud = self._frames.lookup(goal.target_frame, frame, stamp_s, self._transform_timeout_s)
            except FrameError as exc:
                return self._finish(handle, request, Result.INVALID_GOAL, f"target_frame {goal.target_frame!r}: {exc}")
            points = transform_points(target_from_cloud, points).astype(np.float32)
            if normals is not None:
                normals = rotate_vectors(target_from_cloud, normals).astype(np.float32)
            frame = goal.target_frame

        def on_progress(t: float, nfe: int) -> None:
            evaluations[0] = nfe
            handle.publish_feedback(GenerateGrasp.Feedback(stage="sampling", progress=float(0.1 + 0.8 * t)))

        handle.publish_feedback(GenerateGrasp.Feedback(stage="encoding", progress=0.05))
        try:
            grasps = self._generator.generate(
                goal.prompt, points, num_grasps=request.num_grasps, object_normals=normals,
                seed=goal.seed if goal.use_seed else None,
                should_continue=lambda _t, _nfe: self._should_continue(handle, request),
                on_progress=on_progress, settle=self._settle, support_plane=self._support_plane(frame),
                **self._solver,
            )
        except SamplingCancelled as exc:
            evaluations[0] = exc.nfe
            raise _Stopped() from exc
        except ValueError as exc:
            return self._finish(handle, request, Result.INVALID_GOAL, str(exc), nfe=evaluations[0])
        if grasps:
            bad = count_nonfinite_grasps(np.stack([g.vector for g in grasps]), np.array([g.score for g in grasps]))
            if bad:
                return self._finish(handle, request, Result.INTERNAL_ERROR,
                                    f"the model produced {bad} non-finite grasps of {len(grasps)}", nfe=evaluations[0])

        handle.publish_feedback(GenerateGrasp.Feedback(stage="ranking", progress=0.95))
        # The grasps hold for the scene the cloud saw: its stamp (or now, for an unstamped cloud).
        stamp = request.stamp if request.stamp is not None else self.get_clock().now().to_msg()
        goal_id = bytes(handle.goal_id.uuid).hex()[:8]
        hand = self._generator.hand.name
        msgs = [grasp_to_msg(g, f"{goal_id}/{rank}", hand, frame, stamp, self._palm_direction, self._pregrasp_joints)
                for rank, g in enumerate(grasps)]
        self._markers.publish(grasps_to_markers(grasps, self._generator.hand, frame, stamp))
        return self._finish(handle, request, Result.SUCCESS,
                            f"{len(msgs)} grasps for {goal.prompt!r} ({len(points)} points, "
                            f"{request.dropped} dropped for NaN/inf)", msgs, evaluations[0])

    def _should_continue(self, handle, request: _Request) -> bool:
        return not (handle.is_cancel_requested or time.monotonic() >= request.deadline_s or self._stopping.is_set())

    def shut_down_gracefully(self) -> None:
        """End the running and waiting goals with results, then shut ROS down (for SIGINT/SIGTERM: rclpy's own
        handler would shut the context down at once, and the running goal could no longer answer). A second
        signal shuts down at once."""
        if self._stopping.is_set():
            self.context.try_shutdown()
            return
        self._stopping.set()
        self.get_logger().info("shutting down: ending the goals first")
        self._queue.close()
        threading.Thread(target=self._shut_down_when_idle, daemon=True).start()

    def _shut_down_when_idle(self) -> None:
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        while not self._queue.idle() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(RESULT_SEND_S)
        self.context.try_shutdown()

    def _stop_reason(self, handle, request: _Request) -> tuple[int, str]:
        if handle.is_cancel_requested:
            return Result.CANCELED, "cancelled"
        if time.monotonic() >= request.deadline_s:
            return Result.TIMED_OUT, "the goal's time budget ran out"
        return Result.INTERNAL_ERROR, "the server is shutting down"

    def _finish(self, handle, request: _Request, code: int, message: str, grasps=(), nfe: int = 0) -> Result:
        elapsed = time.monotonic() - request.accepted_s
        result = Result(error_code=code, message=message, grasps=list(grasps), function_evaluations=nfe,
                        elapsed=Duration(sec=int(elapsed), nanosec=int((elapsed % 1) * 1e9)))
        if code == Result.SUCCESS:
            handle.succeed()
            if result.grasps:  # the pick node takes grasps by index into the last of these
                self._generated.publish(GraspSet(header=result.grasps[0].wrist_pose.header,
                                                 prompt=handle.request.prompt, grasps=result.grasps))
        elif code == Result.CANCELED:
            handle.canceled()
        elif handle.is_active:
            handle.abort()
            self.get_logger().warning(f"goal failed: {message}")
        return result


def _normals(cloud: dict) -> np.ndarray | None:
    """(N, 3) normals when the cloud carries normal_x/y/z fields."""
    if not all(f"normal_{c}" in cloud for c in "xyz"):
        return None
    return np.stack([cloud[f"normal_{c}"] for c in "xyz"], axis=-1).astype(np.float32)


def _make_server() -> GraspServer:
    server = GraspServer()
    for number in (signal.SIGINT, signal.SIGTERM):  # replaces rclpy's handlers (see shut_down_gracefully)
        signal.signal(number, lambda _number, _frame: server.shut_down_gracefully())
    return server


def main(args=None) -> None:
    try:
        run_node(_make_server, args)
    except ServerStartError as exc:
        print(f"flash_grasp_server: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
