"""flash_interfaces/Grasp messages -> the interchange formats of `flash_core.interchange` (isaac_grasp YAML,
moveit_msgs/Grasp). Thin: the message's fields are read here; everything else happens in the core."""

from __future__ import annotations

from collections.abc import Sequence

from flash_core.interchange.isaac_grasp import IsaacGrasp, IsaacGraspError, IsaacGraspSet, score_to_confidence
from flash_core.interchange.moveit_grasp import MoveItGraspConfig, MoveItGraspFields, moveit_grasp_fields
from flash_ros.frames import pose_to_matrix


def isaac_grasp_from_msg(msg) -> IsaacGrasp:
    """One flash_interfaces/Grasp -> IsaacGrasp with its pose in msg.wrist_pose.header.frame_id."""
    return IsaacGrasp.from_matrix(
        msg.id, pose_to_matrix(msg.wrist_pose.pose), dict(zip(msg.joint_names, msg.joint_positions)),
        dict(zip(msg.joint_names, msg.pregrasp_joint_positions)), score_to_confidence(msg.score))


def isaac_grasps_from_msgs(msgs: Sequence, gripper_frame: str | None = None) -> IsaacGraspSet:
    """The grasps of one GenerateGrasp result -> IsaacGraspSet; the object frame is their wrist_pose frame
    (the object cloud's), which must be the same for all, as must the hand."""
    if not msgs:
        raise IsaacGraspError("no grasps to export")
    hands = {m.hand_name for m in msgs}
    frames = {m.wrist_pose.header.frame_id for m in msgs}
    if len(hands) != 1 or len(frames) != 1:
        raise IsaacGraspError(f"one isaac_grasp file holds one hand on one object frame, got hands {sorted(hands)} "
                              f"and frames {sorted(frames)}")
    hand = hands.pop()
    if gripper_frame is None:
        from flash_core.hands.spec import load_spec

        gripper_frame = load_spec(hand).root_body
    return IsaacGraspSet(hand, frames.pop(), gripper_frame, tuple(isaac_grasp_from_msg(m) for m in msgs))


def moveit_grasp_fields_from_msg(msg, config: MoveItGraspConfig | None = None) -> MoveItGraspFields:
    """One flash_interfaces/Grasp -> the moveit_msgs/Grasp fields (its own approach direction and distance; a zero
    distance, the message default, leaves the config's). `moveit_grasp_message` builds the message from them."""
    approach = (msg.approach_direction.x, msg.approach_direction.y, msg.approach_direction.z)
    distance_m = float(msg.pregrasp_distance_m) if msg.pregrasp_distance_m != 0.0 else None
    return moveit_grasp_fields(isaac_grasp_from_msg(msg), msg.wrist_pose.header.frame_id, approach,
                               list(msg.joint_names), config, distance_m)
