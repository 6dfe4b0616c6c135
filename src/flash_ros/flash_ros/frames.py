"""Coordinate frames for FLASH's nodes: T_target_source from TF, with or without tf2_ros.

`make_frame_lookup(node)` returns a `FrameLookup`:
- `Tf2FrameLookup`: tf2_ros's Buffer and TransformListener, where tf2_ros imports (ROS 2 Jazzy installs);
- `TopicFrameLookup`: otherwise (ROS 2 from PyPI has no tf2_ros): it listens to /tf and /tf_static
  (tf2_msgs/TFMessage; src/compat/tf2_msgs builds the message where no tf2_msgs exists) and keeps
  flash_core's FrameTree, which follows tf2's rules (static edges forever, interpolated dynamic history,
  no extrapolation beyond a small tolerance).

Both raise flash_core's FrameError (unknown frame, disconnected trees, extrapolation) with a message that
names the frames, so a node can report it and keep serving.
"""

from __future__ import annotations

from functools import partial
from typing import Protocol

import numpy as np
from geometry_msgs.msg import Pose, Transform
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time

from flash_core.geometry.frame_tree import FrameError, FrameTree, FrameTreeConfig
from flash_core.geometry.rigid import transform_from_quaternion, transform_to_quaternion

__all__ = ["FrameError", "FrameLookup", "Tf2FrameLookup", "TopicFrameLookup", "make_frame_lookup",
           "matrix_to_pose", "pose_to_matrix", "stamp_to_seconds", "transform_to_matrix"]

# tf2_ros's listener QoS: /tf reliable + volatile, /tf_static transient-local (late joiners get it), depth 100.
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
TF_STATIC_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)


class FrameLookup(Protocol):
    def lookup(self, target: str, source: str, stamp_s: float | None = None, timeout_s: float = 0.0) -> np.ndarray:
        """T_target_source (4, 4) at stamp_s (seconds; None: the latest available), waiting up to timeout_s.
        Raises FrameError."""


def transform_to_matrix(msg: Transform) -> np.ndarray:
    """geometry_msgs/Transform -> (4, 4)."""
    t, q = msg.translation, msg.rotation
    return transform_from_quaternion((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))


def pose_to_matrix(msg: Pose) -> np.ndarray:
    """geometry_msgs/Pose -> (4, 4); a zero or non-finite quaternion is a ValueError."""
    p, q = msg.position, msg.orientation
    return transform_from_quaternion((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))


def matrix_to_pose(matrix: np.ndarray) -> Pose:
    """(4, 4) -> geometry_msgs/Pose."""
    translation, quaternion = transform_to_quaternion(matrix)
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in translation)
    q = pose.orientation
    q.x, q.y, q.z, q.w = (float(v) for v in quaternion)
    return pose


def stamp_to_seconds(stamp) -> float | None:
    """builtin_interfaces/Time -> seconds; the zero stamp means "latest" in tf2, returned as None."""
    if stamp.sec == 0 and stamp.nanosec == 0:
        return None
    return stamp.sec + stamp.nanosec * 1e-9


class TopicFrameLookup:
    """/tf and /tf_static into a FrameTree. The subscriptions get their own callback group, so a lookup
    waiting for a transform inside another callback (multi-threaded executor) does not starve them."""

    def __init__(self, node: Node, config: FrameTreeConfig | None = None):
        from tf2_msgs.msg import TFMessage

        self.tree = FrameTree(config)
        group = MutuallyExclusiveCallbackGroup()
        node.create_subscription(TFMessage, "/tf", partial(self._on_transforms, static=False), TF_QOS,
                                 callback_group=group)
        node.create_subscription(TFMessage, "/tf_static", partial(self._on_transforms, static=True),
                                 TF_STATIC_QOS, callback_group=group)
        self._logger = node.get_logger()

    def _on_transforms(self, msg, static: bool) -> None:
        for item in msg.transforms:
            try:
                self.tree.set_transform(item.header.frame_id, item.child_frame_id, transform_to_matrix(item.transform),
                                        stamp_s=item.header.stamp.sec + item.header.stamp.nanosec * 1e-9,
                                        static=static)
            except ValueError as exc:  # one bad transform from some publisher must not drop the rest
                self._logger.warning(f"ignoring transform {item.header.frame_id} -> {item.child_frame_id}: {exc}",
                                     throttle_duration_sec=5.0)

    def lookup(self, target: str, source: str, stamp_s: float | None = None, timeout_s: float = 0.0) -> np.ndarray:
        return self.tree.lookup(target, source, stamp_s, timeout_s)


class Tf2FrameLookup:
    """tf2_ros's Buffer + TransformListener (Jazzy installs), with its exceptions turned into FrameError."""

    def __init__(self, node: Node, cache_s: float = 10.0):
        import tf2_ros

        self._tf2 = tf2_ros
        self._buffer = tf2_ros.Buffer(cache_time=Duration(seconds=cache_s), node=node)
        self._listener = tf2_ros.TransformListener(self._buffer, node)

    def lookup(self, target: str, source: str, stamp_s: float | None = None, timeout_s: float = 0.0) -> np.ndarray:
        stamp = Time() if stamp_s is None else Time(nanoseconds=int(round(stamp_s * 1e9)))
        try:
            msg = self._buffer.lookup_transform(target, source, stamp, timeout=Duration(seconds=timeout_s))
        except self._tf2.TransformException as exc:
            raise FrameError(f"no transform {source!r} -> {target!r}: {exc}") from exc
        return transform_to_matrix(msg.transform)


def make_frame_lookup(node: Node, config: FrameTreeConfig | None = None) -> FrameLookup:
    """tf2_ros where it imports, else the /tf listener over flash_core's FrameTree."""
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return TopicFrameLookup(node, config)
    return Tf2FrameLookup(node, cache_s=(config or FrameTreeConfig()).history_s)
