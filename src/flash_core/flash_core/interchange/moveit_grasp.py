"""FLASH grasps as `moveit_msgs/Grasp`: the fields as plain data here, the message where moveit_msgs exists.

moveit_msgs/Grasp (https://docs.ros.org/en/jazzy/p/moveit_msgs/msg/Grasp.html) holds: `id`; `pre_grasp_posture`
and `grasp_posture` (trajectory_msgs/JointTrajectory: the hand's joints while approaching and at the grasp);
`grasp_pose` (PoseStamped of the end effector's parent link); `grasp_quality`; `pre_grasp_approach` and
`post_grasp_retreat` (GripperTranslation: a Vector3Stamped direction of motion, desired and minimum distance);
`post_place_retreat`, `max_contact_force` and `allowed_touch_objects`.

From a FLASH grasp (an `IsaacGrasp`: hand root pose in the object frame, joints, pre-grasp joints, confidence):
- grasp_pose: the hand root frame (LEAP `palm`) in `frame_id`; pair it with an end effector whose parent link is
  that frame (or compose the flange-to-palm mount first);
- postures: one point each, joints in the hand spec's order, reached after `posture_duration_s`;
- pre_grasp_approach: the hand's direction of motion in `frame_id` (the grasp message's `approach_direction`;
  for a generator grasp, R_object_hand @ the hand model's palm normal) over `pregrasp_distance_m`;
- post_grasp_retreat: a lift along `retreat_direction` (default +z of `retreat_frame_id`, the robot base),
  as FLASH's own pick lifts;
- minimum distances equal the desired ones: FLASH's planner plans the whole straight approach and lift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from flash_core.interchange.isaac_grasp import IsaacGrasp
from flash_core.planning.pick import PickConfig, approach_direction
from flash_core.planning.srdf import BASE_LINK


@dataclass(frozen=True)
class MoveItGraspConfig:
    pregrasp_distance_m: float = field(default_factory=lambda: PickConfig().pregrasp_distance_m)
    retreat_distance_m: float = field(default_factory=lambda: PickConfig().lift_m)
    retreat_direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    retreat_frame_id: str = BASE_LINK  # the robot base: "up" for the lift
    posture_duration_s: float = field(default_factory=lambda: PickConfig().hand_move_duration_s)
    allowed_touch_objects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("pregrasp_distance_m", "retreat_distance_m", "posture_duration_s"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        approach_direction(self.retreat_direction)  # a zero or non-finite direction fails here


@dataclass(frozen=True)
class GripperTranslationFields:
    """moveit_msgs/GripperTranslation: a unit direction of motion in frame_id, distances in metres."""

    frame_id: str
    direction: tuple[float, float, float]
    desired_distance_m: float
    min_distance_m: float


@dataclass(frozen=True)
class PostureFields:
    """trajectory_msgs/JointTrajectory with one point."""

    joint_names: tuple[str, ...]
    positions: tuple[float, ...]  # rad
    time_from_start_s: float


@dataclass(frozen=True)
class MoveItGraspFields:
    id: str
    frame_id: str
    position_m: tuple[float, float, float]
    quaternion_xyzw: tuple[float, float, float, float]  # geometry_msgs order (scalar last)
    pre_grasp_posture: PostureFields
    grasp_posture: PostureFields
    grasp_quality: float
    pre_grasp_approach: GripperTranslationFields
    post_grasp_retreat: GripperTranslationFields
    allowed_touch_objects: tuple[str, ...]


def moveit_grasp_fields(grasp: IsaacGrasp, frame_id: str, approach: Sequence[float], joint_names: Sequence[str],
                        config: MoveItGraspConfig | None = None,
                        pregrasp_distance_m: float | None = None) -> MoveItGraspFields:
    """The moveit_msgs/Grasp fields of one grasp. frame_id: the frame its pose is in (the object frame of its
    isaac_grasp set); approach (3,): the hand's direction of motion in that frame; joint_names: the postures'
    joint order (the hand spec's); pregrasp_distance_m overrides the config's (a grasp message carries its own)."""
    config = config or MoveItGraspConfig()
    if not frame_id:
        raise ValueError("frame_id must name the frame of the grasp pose")
    distance_m = config.pregrasp_distance_m if pregrasp_distance_m is None else float(pregrasp_distance_m)
    if not (np.isfinite(distance_m) and distance_m >= 0.0):
        raise ValueError(f"pregrasp_distance_m must be finite and >= 0, got {distance_m}")
    names = tuple(joint_names)
    unit = np.asarray(grasp.quaternion_wxyz, dtype=float) / np.linalg.norm(grasp.quaternion_wxyz)
    w, x, y, z = (float(v) for v in unit)
    return MoveItGraspFields(
        id=grasp.name, frame_id=frame_id,
        position_m=tuple(float(v) for v in grasp.position_m), quaternion_xyzw=(x, y, z, w),
        pre_grasp_posture=PostureFields(names, tuple(grasp.pregrasp_joint_positions(names).tolist()),
                                        config.posture_duration_s),
        grasp_posture=PostureFields(names, tuple(grasp.joint_positions(names).tolist()), config.posture_duration_s),
        grasp_quality=float(grasp.confidence),
        pre_grasp_approach=GripperTranslationFields(frame_id, tuple(approach_direction(approach).tolist()),
                                                    distance_m, distance_m),
        post_grasp_retreat=GripperTranslationFields(config.retreat_frame_id,
                                                    tuple(approach_direction(config.retreat_direction).tolist()),
                                                    config.retreat_distance_m, config.retreat_distance_m),
        allowed_touch_objects=tuple(config.allowed_touch_objects),
    )


def moveit_grasp_message(fields: MoveItGraspFields):
    """A moveit_msgs.msg.Grasp from the fields; MissingDependencyError where moveit_msgs is not installed."""
    from flash_core.utils.require import require_package

    feature = "moveit_msgs/Grasp conversion"
    hint = "a ROS 2 install with moveit_msgs (e.g. apt install ros-jazzy-moveit-msgs), then source it"
    moveit = require_package("moveit_msgs.msg", feature=feature, install_hint=hint)
    geometry = require_package("geometry_msgs.msg", feature=feature, install_hint=hint)
    trajectory = require_package("trajectory_msgs.msg", feature=feature, install_hint=hint)
    builtin = require_package("builtin_interfaces.msg", feature=feature, install_hint=hint)

    def duration(seconds: float):
        nanoseconds = int(round(seconds * 1e9))
        return builtin.Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)

    def posture(p: PostureFields):
        point = trajectory.JointTrajectoryPoint(positions=list(p.positions),
                                                time_from_start=duration(p.time_from_start_s))
        return trajectory.JointTrajectory(joint_names=list(p.joint_names), points=[point])

    def translation(t: GripperTranslationFields):
        x, y, z = t.direction
        direction = geometry.Vector3Stamped(vector=geometry.Vector3(x=x, y=y, z=z))
        direction.header.frame_id = t.frame_id
        return moveit.GripperTranslation(direction=direction, desired_distance=t.desired_distance_m,
                                         min_distance=t.min_distance_m)

    msg = moveit.Grasp(id=fields.id, pre_grasp_posture=posture(fields.pre_grasp_posture),
                       grasp_posture=posture(fields.grasp_posture), grasp_quality=fields.grasp_quality,
                       pre_grasp_approach=translation(fields.pre_grasp_approach),
                       post_grasp_retreat=translation(fields.post_grasp_retreat),
                       allowed_touch_objects=list(fields.allowed_touch_objects))
    msg.grasp_pose.header.frame_id = fields.frame_id
    position, orientation = msg.grasp_pose.pose.position, msg.grasp_pose.pose.orientation
    position.x, position.y, position.z = fields.position_m
    orientation.x, orientation.y, orientation.z, orientation.w = fields.quaternion_xyzw
    return msg
