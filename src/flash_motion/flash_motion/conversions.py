"""ROS messages <-> flash_core.planning types. No node state here, so tests can call these directly."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from trajectory_msgs.msg import JointTrajectoryPoint

from flash_core.planning import GraspCandidate, JointTrajectory
from flash_core.planning.description import hand_joint_order
from flash_ros.frames import pose_to_matrix


def duration(seconds: float) -> Duration:
    whole = int(np.floor(seconds))
    return Duration(sec=whole, nanosec=int(round((seconds - whole) * 1e9)) % 1_000_000_000)


def grasp_to_candidate(grasp, base_from_grasp_frame: np.ndarray) -> GraspCandidate:
    """flash_interfaces/Grasp -> GraspCandidate in the robot base frame. base_from_grasp_frame (4, 4) is
    T_base_frame for the grasp's wrist_pose.header.frame_id (the pick node looks it up in TF)."""
    if grasp.hand_name and grasp.hand_name != "leap":
        raise ValueError(f"grasp '{grasp.id}' is for hand '{grasp.hand_name}'; this robot carries a LEAP hand")
    wrist_in_base = base_from_grasp_frame @ pose_to_matrix(grasp.wrist_pose.pose)
    direction = np.array([grasp.approach_direction.x, grasp.approach_direction.y, grasp.approach_direction.z])
    # A zero direction or distance (the message defaults) leaves the planner's default approach.
    approach_in_base = base_from_grasp_frame[:3, :3] @ direction if np.any(direction != 0.0) else None
    distance_m = float(grasp.pregrasp_distance_m) if grasp.pregrasp_distance_m != 0.0 else None
    return GraspCandidate.from_named_joints(wrist_in_base, list(grasp.joint_names),
                                            list(grasp.joint_positions), list(grasp.pregrasp_joint_positions),
                                            approach_in_base, distance_m)


def trajectory_to_msg(trajectory: JointTrajectory, joint_names: list[str] | None = None) -> JointTrajectoryMsg:
    """JointTrajectory -> trajectory_msgs/JointTrajectory, optionally renaming joints (same order)."""
    names = list(joint_names) if joint_names is not None else list(trajectory.joint_names)
    if len(names) != len(trajectory.joint_names):
        raise ValueError(f"{len(names)} joint names for a trajectory of {len(trajectory.joint_names)} joints")
    msg = JointTrajectoryMsg(joint_names=names)
    for q, v, a, t in zip(trajectory.positions, trajectory.velocities, trajectory.accelerations,
                          trajectory.times_s):
        msg.points.append(JointTrajectoryPoint(positions=q.tolist(), velocities=v.tolist(),
                                               accelerations=a.tolist(), time_from_start=duration(float(t))))
    return msg


def hand_trajectory_for_driver(trajectory: JointTrajectory, driver_joint_names: list[str]) -> JointTrajectoryMsg:
    """A planner-order hand trajectory as the driver names and orders its joints (e.g. "0".."15")."""
    order = hand_joint_order(driver_joint_names)  # planner[k] = driver[order[k]]
    inverse = np.argsort(order)  # driver[j] = planner[inverse[j]]
    reordered = JointTrajectory(tuple(driver_joint_names), trajectory.positions[:, inverse],
                                trajectory.velocities[:, inverse], trajectory.accelerations[:, inverse],
                                trajectory.times_s)
    return trajectory_to_msg(reordered)
