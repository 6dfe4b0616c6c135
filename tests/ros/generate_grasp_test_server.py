"""A GenerateGrasp server for the interface round-trip test: it exercises the action's transport
(goal, feedback, result, cancel) across processes. It is a test double, not the FLASH server: the
grasps it returns are built from the goal (count, hand, frame, seed) so the client can check that
every field crossed the wire. Usage: python generate_grasp_test_server.py [steps] [step_s]
"""

import sys
import time

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from flash_interfaces.action import GenerateGrasp
from flash_interfaces.msg import Grasp
from flash_ros import run_node


class TestServer(Node):
    def __init__(self, steps: int, step_s: float):
        super().__init__("generate_grasp_test_server")
        self._steps, self._step_s = steps, step_s
        self._server = ActionServer(
            self, GenerateGrasp, "generate_grasp", self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )

    def _on_goal(self, goal: GenerateGrasp.Goal) -> GoalResponse:
        return GoalResponse.ACCEPT if goal.prompt else GoalResponse.REJECT

    def _execute(self, handle):
        goal = handle.request
        result = GenerateGrasp.Result()
        for i in range(self._steps):
            if handle.is_cancel_requested:
                handle.canceled()
                result.error_code = GenerateGrasp.Result.CANCELED
                result.message = f"canceled after {i} steps"
                return result
            handle.publish_feedback(GenerateGrasp.Feedback(stage="sampling", progress=(i + 1) / self._steps))
            time.sleep(self._step_s)
        for rank in range(goal.num_grasps):
            g = Grasp(id=f"{rank}", hand_name=goal.hand_name, score=float(goal.num_grasps - rank))
            g.wrist_pose.header.frame_id = goal.target_frame or goal.object_cloud.header.frame_id
            g.joint_positions = [float(goal.seed)] * 16
            result.grasps.append(g)
        result.error_code = GenerateGrasp.Result.SUCCESS
        result.message = f"{goal.prompt!r}: {goal.object_cloud.width} points"
        handle.succeed()
        return result


def main() -> None:
    steps, step_s = int(sys.argv[1]), float(sys.argv[2])
    run_node(lambda: TestServer(steps, step_s), ready_line="ready")


if __name__ == "__main__":
    main()
