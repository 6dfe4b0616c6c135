"""A stand-in for tf2_ros's static_transform_publisher (not on PyPI), for tests: publishes the transforms
given as JSON on /tf_static once, TRANSIENT_LOCAL like tf2's StaticTransformBroadcaster, then stays up so
late subscribers still get them.

    python static_frames_publisher.py '[["base_link", "camera", x, y, z, qx, qy, qz, qw], ...]'
"""

from __future__ import annotations

import json
import sys

from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from tf2_msgs.msg import TFMessage

from flash_ros import run_node
from flash_ros.frames import TF_STATIC_QOS


class StaticFramesPublisher(Node):
    def __init__(self, transforms: list[list]):
        super().__init__("static_frames_publisher")
        msg = TFMessage()
        for parent, child, x, y, z, qx, qy, qz, qw in transforms:
            item = TransformStamped(child_frame_id=child)
            item.header.frame_id = parent
            item.header.stamp = self.get_clock().now().to_msg()
            t, q = item.transform.translation, item.transform.rotation
            t.x, t.y, t.z, q.x, q.y, q.z, q.w = (float(v) for v in (x, y, z, qx, qy, qz, qw))
            msg.transforms.append(item)
        self._publisher = self.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
        self._publisher.publish(msg)


if __name__ == "__main__":
    transforms = json.loads(sys.argv[1])
    run_node(lambda: StaticFramesPublisher(transforms), sys.argv[2:], ready_line="ready")
