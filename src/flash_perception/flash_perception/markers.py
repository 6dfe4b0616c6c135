"""RViz markers of a segmented scene: the target's points (green), each obstacle's points and label (orange),
the table as a thin box, the workspace box as lines."""

from __future__ import annotations

import itertools

import numpy as np
from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from flash_ros.frames import matrix_to_pose

TARGET_RGBA = ColorRGBA(r=0.1, g=0.9, b=0.2, a=1.0)
OBSTACLE_RGBA = ColorRGBA(r=1.0, g=0.55, b=0.0, a=1.0)
TABLE_RGBA = ColorRGBA(r=0.6, g=0.6, b=0.7, a=0.4)
WORKSPACE_RGBA = ColorRGBA(r=0.3, g=0.6, b=1.0, a=0.8)
POINT_SIZE_M = 0.004
TABLE_THICKNESS_M = 0.005


def _points(points_m: np.ndarray) -> list[Point]:
    return [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in points_m]


def scene_markers(frame_id: str, stamp, target_m: np.ndarray, obstacles_m: list[np.ndarray],
                  table_pose: np.ndarray, table_size_m: tuple[float, float],
                  workspace_min_m: np.ndarray, workspace_max_m: np.ndarray) -> MarkerArray:
    """target_m (N, 3); obstacles_m: one (M_i, 3) per obstacle; table_pose (4, 4) with z along the plane normal;
    table_size_m its extent along the pose's x and y. Starts with DELETEALL so markers of a previous scene with
    more obstacles disappear."""
    markers = [Marker(action=Marker.DELETEALL)]

    def add(ns: str, marker_id: int, kind: int, color: ColorRGBA, scale: Vector3, **fields) -> Marker:
        marker = Marker(ns=ns, id=marker_id, type=kind, action=Marker.ADD, color=color, scale=scale, **fields)
        marker.header.frame_id, marker.header.stamp = frame_id, stamp
        if "pose" not in fields:
            marker.pose.orientation.w = 1.0
        markers.append(marker)
        return marker

    dot = Vector3(x=POINT_SIZE_M, y=POINT_SIZE_M)
    add("target", 0, Marker.POINTS, TARGET_RGBA, dot, points=_points(target_m))
    for i, obstacle in enumerate(obstacles_m):
        add("obstacles", i, Marker.POINTS, OBSTACLE_RGBA, dot, points=_points(obstacle))
        label = add("obstacle_labels", i, Marker.TEXT_VIEW_FACING, OBSTACLE_RGBA, Vector3(z=0.03),
                    text=f"obstacle {i}")
        top = obstacle.mean(0)
        label.pose.position = Point(x=float(top[0]), y=float(top[1]), z=float(obstacle[:, 2].max() + 0.03))
    add("table", 0, Marker.CUBE, TABLE_RGBA, Vector3(x=table_size_m[0], y=table_size_m[1], z=TABLE_THICKNESS_M),
        pose=matrix_to_pose(table_pose))
    # The box's 12 edges: corner pairs that differ in exactly one coordinate.
    corners = [np.where(np.array(bits, bool), workspace_max_m, workspace_min_m)
               for bits in itertools.product((0, 1), repeat=3)]
    edges = [p for a, b in itertools.combinations(corners, 2) if np.sum(a != b) == 1 for p in (a, b)]
    add("workspace", 0, Marker.LINE_LIST, WORKSPACE_RGBA, Vector3(x=0.003), points=_points(np.array(edges)))
    return MarkerArray(markers=markers)
