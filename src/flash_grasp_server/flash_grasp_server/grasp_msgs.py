"""flash_core Grasps -> flash_interfaces/Grasp messages and RViz markers."""

from __future__ import annotations

import numpy as np
import torch
from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from flash_core.generator import Grasp
from flash_interfaces.msg import Grasp as GraspMsg

# How far before the grasp the straight approach starts (moveit_msgs/Grasp's pre_grasp_approach).
PREGRASP_DISTANCE_M = 0.10
# RViz shows at most this many hands (each is ~1k points).
MAX_MARKED_GRASPS = 5


def grasp_to_msg(grasp: Grasp, grasp_id: str, hand_name: str, frame_id: str, stamp,
                 palm_direction: np.ndarray, pregrasp_joints: np.ndarray) -> GraspMsg:
    """palm_direction (3,): unit vector in the hand root frame towards which the fingers close."""
    msg = GraspMsg(id=grasp_id, hand_name=hand_name, joint_names=list(grasp.joint_names),
                   joint_positions=grasp.joint_positions.astype(float).tolist(),
                   pregrasp_joint_positions=np.asarray(pregrasp_joints, dtype=float).tolist(),
                   pregrasp_distance_m=PREGRASP_DISTANCE_M, score=float(grasp.score),
                   max_penetration_m=float(grasp.penetration_m), contact_distance_m=float(grasp.contact_distance_m),
                   contact_fingers=list(grasp.contact_fingers),
                   hand_parameters=grasp.vector.astype(np.float32).tolist())
    msg.wrist_pose.header.frame_id = frame_id
    msg.wrist_pose.header.stamp = stamp
    p, q = msg.wrist_pose.pose.position, msg.wrist_pose.pose.orientation
    p.x, p.y, p.z = (float(v) for v in grasp.translation_m)
    q.w, q.x, q.y, q.z = (float(v) for v in grasp.quaternion_wxyz)
    approach = grasp.matrix[:3, :3] @ np.asarray(palm_direction, dtype=float)
    msg.approach_direction = Vector3(x=float(approach[0]), y=float(approach[1]), z=float(approach[2]))
    return msg


def grasps_to_markers(grasps: list[Grasp], hand, frame_id: str, stamp) -> MarkerArray:
    """The best MAX_MARKED_GRASPS hands as point clouds, green (best) to red; older markers are deleted."""
    markers = MarkerArray(markers=[Marker(action=Marker.DELETEALL)])
    shown = grasps[:MAX_MARKED_GRASPS]
    if not shown:
        return markers
    x = torch.as_tensor(np.stack([g.vector for g in shown]), dtype=hand.dtype, device=hand.device)
    with torch.no_grad():
        points = hand.surface_points(x).cpu().numpy()  # (K, M, 3)
    for rank, cloud in enumerate(points):
        shade = rank / max(1, len(shown) - 1)
        marker = Marker(ns="flash_grasps", id=rank, type=Marker.POINTS, action=Marker.ADD,
                        color=ColorRGBA(r=shade, g=1.0 - shade, b=0.2, a=1.0))
        marker.header.frame_id = frame_id
        marker.header.stamp = stamp
        marker.pose.orientation.w = 1.0
        marker.scale.x = marker.scale.y = 0.003
        marker.points = [Point(x=float(a), y=float(b), z=float(c)) for a, b, c in cloud]
        markers.markers.append(marker)
    return markers
