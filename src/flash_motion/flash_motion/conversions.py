"""ROS messages <-> flash_core.planning types. No node state here, so tests can call these directly."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from trajectory_msgs.msg import JointTrajectoryPoint

from flash_core.planning import GraspCandidate, JointTrajectory
from flash_core.planning.description import hand_joint_order


def duration(seconds: float) -> Duration:
    whole = int(np.floor(seconds))
    return Duration(sec=whole, nanosec=int(round((seconds - whole) * 1e9)) % 1_000_000_000)


def pose_to_matrix(pose) -> np.ndarray:
    """geometry_msgs/Pose -> (4, 4)."""
    from scipy.spatial.transform import Rotation

    q = pose.orientation
    out = np.eye(4)
    norm = np.linalg.norm([q.x, q.y, q.z, q.w])
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError("wrist pose orientation is not a valid quaternion")
    out[:3, :3] = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    out[:3, 3] = (pose.position.x, pose.position.y, pose.position.z)
    return out


def grasp_to_candidate(grasp, base_frame: str) -> GraspCandidate:
    """flash_interfaces/Grasp -> GraspCandidate. The pose must already be in the robot base frame (no tf2
    on PyPI): ask GenerateGrasp for target_frame = base_frame."""
    frame = grasp.wrist_pose.header.frame_id
    if frame != base_frame:
        raise ValueError(f"grasp '{grasp.id}' is in frame '{frame}', expected the robot base frame "
                         f"'{base_frame}' (set GenerateGrasp's target_frame)")
    if grasp.hand_name and grasp.hand_name != "leap":
        raise ValueError(f"grasp '{grasp.id}' is for hand '{grasp.hand_name}'; this robot carries a LEAP hand")
    return GraspCandidate.from_named_joints(pose_to_matrix(grasp.wrist_pose.pose), list(grasp.joint_names),
                                            list(grasp.joint_positions), list(grasp.pregrasp_joint_positions))


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
