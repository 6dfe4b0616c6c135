"""The GenerateGrasp action server.

Thin by design: it parses parameters and messages, calls flash_core's GraspGenerator and publishes.
Every goal gets a result with an error code and a message; a bad goal never takes the node down.

Frames: the object cloud may be in any frame. With a goal's target_frame set (and different), the cloud (points
and normals) is transformed into it through TF (flash_ros.frames) at the cloud's stamp and the grasps are
generated there, so poses, approach directions, hand parameters and markers all come back in target_frame. A
frame TF cannot connect gives INVALID_GOAL naming it.

Parameters (config/grasp_server.yaml):
    checkpoint          path to a FLASH checkpoint folder (required)
    hand                default hand when a goal names none ("leap")
    num_grasps          default number of grasps (8)
    device              torch device ("cpu", "cuda")
    solver_method       ODE method: "rk4", "euler", "midpoint", "dopri5", "dopri8"
    solver_steps        steps for fixed-step methods
    object_topic        latest segmented object cloud, used when a goal sets use_latest_object
    marker_topic        RViz markers of the last result
    transform_timeout_s how long a goal waits for the cloud -> target_frame transform
"""

from __future__ import annotations

import threading
import time

import numpy as np
from builtin_interfaces.msg import Duration
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import PointCloud2
from visualization_msgs.msg import MarkerArray

from flash_core.flow.solver import SamplingCancelled
from flash_core.generator import GraspGenerator
from flash_core.geometry.rigid import rotate_vectors, transform_points
from flash_grasp_server.grasp_msgs import grasp_to_msg, grasps_to_markers
from flash_interfaces.action import GenerateGrasp
from flash_ros import run_node
from flash_ros.cloud import CloudError, NoPointsError, read_points
from flash_ros.frames import FrameError, make_frame_lookup, stamp_to_seconds

Result = GenerateGrasp.Result


class GraspServer(Node):
    def __init__(self, **kwargs):
        super().__init__("flash_grasp_server", **kwargs)
        self.declare_parameter("checkpoint", "")
        self.declare_parameter("hand", "leap")
        self.declare_parameter("num_grasps", 8)
        self.declare_parameter("device", "cpu")
        self.declare_parameter("solver_method", "rk4")
        self.declare_parameter("solver_steps", 16)
        self.declare_parameter("object_topic", "object_cloud")
        self.declare_parameter("marker_topic", "grasp_markers")
        self.declare_parameter("transform_timeout_s", 1.0)
        param = lambda name: self.get_parameter(name).value  # noqa: E731

        checkpoint = param("checkpoint")
        if not checkpoint:
            raise ValueError("parameter 'checkpoint' is empty: give the path of a FLASH checkpoint folder")
        self._generator = GraspGenerator.from_checkpoint(checkpoint, device=param("device"))
        hand = self._generator.hand
        # Per-hand constants of the messages: the closing direction and the approach shape.
        self._palm_direction = hand.palm_frame().normal.cpu().numpy()
        self._pregrasp_joints = hand.pregrasp_joints().cpu().numpy()
        self._default_hand = param("hand")
        self._default_num = int(param("num_grasps"))
        self._solver = {"method": param("solver_method"), "steps": int(param("solver_steps"))}
        # One goal runs at a time (the model is not re-entrant and a CPU has no room for two);
        # further goals wait for the lock, and can be cancelled while they wait.
        self._busy = threading.Lock()
        self._latest_object: PointCloud2 | None = None
        self._frames = make_frame_lookup(self)
        self._transform_timeout_s = float(param("transform_timeout_s"))

        group = ReentrantCallbackGroup()
        self.create_subscription(PointCloud2, param("object_topic"), self._on_object, 1, callback_group=group)
        self._markers = self.create_publisher(MarkerArray, param("marker_topic"), 1)
        self._server = ActionServer(
            self, GenerateGrasp, "generate_grasp", self._execute,
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=lambda _handle: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self.get_logger().info(f"serving generate_grasp: {hand.name} hand, checkpoint {checkpoint}")

    def _on_object(self, msg: PointCloud2) -> None:
        self._latest_object = msg

    def _execute(self, handle) -> GenerateGrasp.Result:
        started = time.monotonic()
        goal: GenerateGrasp.Goal = handle.request
        budget_s = goal.time_budget.sec + goal.time_budget.nanosec * 1e-9

        def finish(code: int, message: str, grasps=(), nfe: int = 0) -> GenerateGrasp.Result:
            elapsed = time.monotonic() - started
            result = Result(error_code=code, message=message, grasps=list(grasps), function_evaluations=nfe,
                            elapsed=Duration(sec=int(elapsed), nanosec=int((elapsed % 1) * 1e9)))
            if code == Result.SUCCESS:
                handle.succeed()
            elif code == Result.CANCELED:
                handle.canceled()
            else:
                handle.abort()
                self.get_logger().warning(f"goal failed: {message}")
            return result

        handle.publish_feedback(GenerateGrasp.Feedback(stage="validating", progress=0.0))
        cloud_msg = self._latest_object if goal.use_latest_object else goal.object_cloud
        if cloud_msg is None:
            return finish(Result.NO_OBJECT, "use_latest_object is set but no object cloud has been received")
        try:
            cloud = read_points(cloud_msg, extra_fields=("normal_x", "normal_y", "normal_z"))
        except NoPointsError as exc:
            return finish(Result.NO_OBJECT, f"object cloud: {exc}")
        except CloudError as exc:
            return finish(Result.INVALID_GOAL, f"object cloud: {exc}")
        frame, stamp_s = cloud_msg.header.frame_id, stamp_to_seconds(cloud_msg.header.stamp)
        points, normals = cloud["xyz"], _normals(cloud)
        if goal.target_frame and goal.target_frame != frame:
            try:
                target_from_cloud = self._frames.lookup(goal.target_frame, frame, stamp_s, self._transform_timeout_s)
            except FrameError as exc:
                return finish(Result.INVALID_GOAL, f"target_frame {goal.target_frame!r}: {exc}")
            points = transform_points(target_from_cloud, points).astype(np.float32)
            if normals is not None:
                normals = rotate_vectors(target_from_cloud, normals).astype(np.float32)
            frame = goal.target_frame
        hand = goal.hand_name or self._default_hand
        if hand != self._generator.hand.name:
            return finish(Result.UNKNOWN_HAND, f"hand {hand!r} is not served here; this model is for "
                                               f"{self._generator.hand.name!r}")
        if not goal.prompt.strip():
            return finish(Result.INVALID_GOAL, "the prompt is empty")

        def should_continue(t: float, nfe: int) -> bool:
            return not handle.is_cancel_requested and not (budget_s > 0 and time.monotonic() - started > budget_s)

        evaluations = [0]

        def on_progress(t: float, nfe: int) -> None:
            evaluations[0] = nfe
            handle.publish_feedback(GenerateGrasp.Feedback(stage="sampling", progress=float(0.1 + 0.8 * t)))

        with self._busy:
            if not should_continue(0.0, 0):
                return self._stopped(finish, handle)
            handle.publish_feedback(GenerateGrasp.Feedback(stage="encoding", progress=0.05))
            try:
                grasps = self._generator.generate(
                    goal.prompt, points, hand=hand, num_grasps=goal.num_grasps or self._default_num,
                    object_normals=normals,
                    seed=goal.seed if goal.use_seed else None, should_continue=should_continue,
                    on_progress=on_progress, **self._solver,
                )
            except ValueError as exc:
                return finish(Result.INVALID_GOAL, str(exc))
            except SamplingCancelled:
                return self._stopped(finish, handle)
            except Exception as exc:  # a model failure must not take the server down
                self.get_logger().error(f"grasp generation failed: {exc!r}")
                return finish(Result.INTERNAL_ERROR, f"grasp generation failed: {exc}")

        handle.publish_feedback(GenerateGrasp.Feedback(stage="ranking", progress=0.95))
        # The grasps hold for the scene the cloud saw: its stamp (or now, for an unstamped cloud).
        stamp = cloud_msg.header.stamp if stamp_s is not None else self.get_clock().now().to_msg()
        goal_id = bytes(handle.goal_id.uuid).hex()[:8]
        msgs = [grasp_to_msg(g, f"{goal_id}/{rank}", hand, frame, stamp, self._palm_direction, self._pregrasp_joints)
                for rank, g in enumerate(grasps)]
        self._markers.publish(grasps_to_markers(grasps, self._generator.hand, frame, stamp))
        return finish(Result.SUCCESS, f"{len(msgs)} grasps for {goal.prompt!r} ({len(points)} points)",
                      msgs, evaluations[0])

    @staticmethod
    def _stopped(finish, handle) -> GenerateGrasp.Result:
        if handle.is_cancel_requested:
            return finish(Result.CANCELED, "cancelled")
        return finish(Result.TIMED_OUT, "the goal's time budget ran out")


def _normals(cloud: dict) -> np.ndarray | None:
    """(N, 3) normals when the cloud carries normal_x/y/z fields."""
    if not all(f"normal_{c}" in cloud for c in "xyz"):
        return None
    return np.stack([cloud[f"normal_{c}"] for c in "xyz"], axis=-1).astype(np.float32)


def main(args=None) -> None:
    run_node(GraspServer, args)


if __name__ == "__main__":
    main()
