"""A stand-in for ros2_control's joint_trajectory_controller and the hand driver: dry runs without hardware.

Serves control_msgs/FollowJointTrajectory on every name in `action_names`; each goal is checked (joint names,
strictly increasing times, matching vector sizes), "executed" by waiting its duration times `time_scale`
(0 = at once), its final positions published on `joint_states`, and answered SUCCESSFUL. One JSON line per
goal goes to stdout (action, joint names, point count, duration, final positions) so scripts can see what a
real controller would have received.

    python -m flash_motion.fake_controller --ros-args -p action_names:="[
        '/joint_trajectory_controller/follow_joint_trajectory', '/leap_hand/follow_joint_trajectory']"
"""

from __future__ import annotations

import json
import time

from control_msgs.action import FollowJointTrajectory
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

from flash_ros import run_node

Result = FollowJointTrajectory.Result


def _seconds(duration) -> float:
    return duration.sec + duration.nanosec * 1e-9


class FakeTrajectoryController(Node):
    def __init__(self, **kwargs):
        super().__init__("fake_trajectory_controller", **kwargs)
        self.declare_parameter("action_names", ["/joint_trajectory_controller/follow_joint_trajectory"])
        self.declare_parameter("time_scale", 1.0)
        self.time_scale = float(self.get_parameter("time_scale").value)
        if self.time_scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {self.time_scale}")
        self._joint_states = self.create_publisher(JointState, "joint_states", 10)
        group = ReentrantCallbackGroup()
        self._servers = [
            ActionServer(self, FollowJointTrajectory, name, lambda handle, name=name: self._execute(name, handle),
                         goal_callback=self._check, cancel_callback=lambda _: CancelResponse.ACCEPT,
                         callback_group=group)
            for name in self.get_parameter("action_names").value
        ]

    def _check(self, goal) -> GoalResponse:
        trajectory = goal.trajectory
        times = [_seconds(p.time_from_start) for p in trajectory.points]
        sizes_ok = all(len(p.positions) == len(trajectory.joint_names) for p in trajectory.points)
        increasing = all(b > a for a, b in zip(times, times[1:]))
        if not trajectory.joint_names or not trajectory.points or not sizes_ok or not increasing:
            self.get_logger().warning("rejecting a malformed trajectory")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute(self, action_name: str, handle):
        trajectory = handle.request.trajectory
        duration_s = _seconds(trajectory.points[-1].time_from_start)
        deadline = time.monotonic() + duration_s * self.time_scale
        while time.monotonic() < deadline:
            if handle.is_cancel_requested:
                handle.canceled()
                return Result(error_string="canceled")
            time.sleep(0.01)
        final = list(trajectory.points[-1].positions)
        state = JointState(name=list(trajectory.joint_names), position=final)
        state.header.stamp = self.get_clock().now().to_msg()
        self._joint_states.publish(state)
        print(json.dumps({"action": action_name, "joint_names": list(trajectory.joint_names),
                          "points": len(trajectory.points), "duration_s": duration_s, "final": final}), flush=True)
        handle.succeed()
        return Result(error_code=Result.SUCCESSFUL)


def main(args=None) -> None:
    run_node(FakeTrajectoryController, args, ready_line="ready")


if __name__ == "__main__":
    main()
