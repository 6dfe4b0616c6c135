"""`static_frames`: publish fixed transforms (camera extrinsics, mounts) on /tf_static from YAML parameters.

tf2_ros's static_transform_publisher does this on ROS 2 Jazzy installs; ROS 2 from PyPI has no tf2_ros, so the
bring-up runs this node instead, and it works in both. One TFMessage, latched like tf2's
StaticTransformBroadcaster (TRANSIENT_LOCAL), so nodes that start later still receive it.

Parameters (config/static_frames.yaml):

    frames: [camera_link]          # child frames to publish
    camera_link:
      parent: base_link
      xyz_m: [0.5, 0.0, 0.6]
      quat_xyzw: [0.0, 0.0, 0.0, 1.0]   # normalised here; a zero quaternion is an error
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.parameter import Parameter

from flash_ros.frames import TF_STATIC_QOS
from flash_ros.run import run_node


def read_frame(node: Node, child: str) -> TransformStamped:
    """The transform parent -> child from the node's `<child>.*` parameters; ValueError naming what is wrong."""
    parent = node.declare_parameter(f"{child}.parent", "").value
    xyz = np.asarray(node.declare_parameter(f"{child}.xyz_m", Parameter.Type.DOUBLE_ARRAY).value or [], float)
    quat = np.asarray(node.declare_parameter(f"{child}.quat_xyzw", Parameter.Type.DOUBLE_ARRAY).value or [], float)
    if not parent or parent == child:
        raise ValueError(f"frame {child!r}: set {child}.parent to another frame")
    if xyz.shape != (3,) or not np.isfinite(xyz).all():
        raise ValueError(f"frame {child!r}: {child}.xyz_m must be 3 finite numbers (metres), got {xyz.tolist()}")
    norm = np.linalg.norm(quat) if quat.shape == (4,) else 0.0
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError(f"frame {child!r}: {child}.quat_xyzw must be 4 numbers of non-zero norm, got {quat.tolist()}")
    quat = quat / norm
    msg = TransformStamped(child_frame_id=child)
    msg.header.frame_id = parent
    msg.header.stamp = node.get_clock().now().to_msg()
    t, q = msg.transform.translation, msg.transform.rotation
    t.x, t.y, t.z = (float(v) for v in xyz)
    q.x, q.y, q.z, q.w = (float(v) for v in quat)
    return msg


class StaticFrames(Node):
    def __init__(self):
        from tf2_msgs.msg import TFMessage

        super().__init__("static_frames")
        frames = self.declare_parameter("frames", Parameter.Type.STRING_ARRAY).value or []
        if not frames:
            raise ValueError("static_frames: the 'frames' parameter lists no frames to publish")
        message = TFMessage(transforms=[read_frame(self, child) for child in frames])
        self._publisher = self.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
        self._publisher.publish(message)
        for item in message.transforms:
            self.get_logger().info(f"publishing {item.header.frame_id} -> {item.child_frame_id}")


def main(args=None) -> None:
    run_node(StaticFrames, args, ready_line="ready")


if __name__ == "__main__":
    main()
