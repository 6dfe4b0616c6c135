"""flash_ros.frames over real DDS: a static transform publisher in another process (/tf_static,
TRANSIENT_LOCAL) and dynamic /tf messages, looked up through the topic listener and checked against
compositions computed with scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rclpy.node import Node
from scipy.spatial.transform import Rotation

from tests.ros.conftest import spin_until

pytestmark = pytest.mark.ros

# base_link -> camera_link -> camera_optical (a camera on a post, looking down and forward).
CAMERA_LINK = ["base_link", "camera_link", 0.1, -0.2, 0.8, *Rotation.from_euler("y", 0.6).as_quat()]
CAMERA_OPTICAL = ["camera_link", "camera_optical", 0.0, 0.02, 0.0, -0.5, 0.5, -0.5, 0.5]


def matrix(entry) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = Rotation.from_quat(entry[5:9]).as_matrix()
    out[:3, 3] = entry[2:5]
    return out


def start_static_publisher(spawn, *entries):
    """flash_ros's static_frames node publishing [parent, child, x, y, z, qx, qy, qz, qw] entries."""
    args = ["-m", "flash_ros.static_frames_node", "--ros-args", "-p", f"frames:={json.dumps([e[1] for e in entries])}"]
    for parent, child, *values in entries:
        args += ["-p", f"{child}.parent:={parent}", "-p", f"{child}.xyz_m:={[float(v) for v in values[:3]]}",
                 "-p", f"{child}.quat_xyzw:={[float(v) for v in values[3:]]}"]
    proc = spawn(*args)
    lines = []
    while (line := proc.stdout.readline()) and line.strip() != "ready":  # the node logs its frames first
        lines.append(line)
    assert line.strip() == "ready", f"static_frames node did not start: {''.join(lines)}"
    return proc


def _wait_for(context, node, frames, target, source, stamp_s=None, timeout_s=15.0) -> np.ndarray:
    from flash_ros.frames import FrameError

    found = []

    def ready() -> bool:
        try:
            found.append(frames.lookup(target, source, stamp_s))
        except FrameError:
            return False
        return True

    assert spin_until(context, node, ready, timeout_s), f"no transform {source} -> {target}"
    return found[-1]


def test_tf_message_matches_upstream_fields():
    from tf2_msgs.msg import TFMessage

    # ros2/geometry2 tf2_msgs/msg/TFMessage.msg: "geometry_msgs/TransformStamped[] transforms".
    assert TFMessage.get_fields_and_field_types() == {"transforms": "sequence<geometry_msgs/TransformStamped>"}


def test_static_and_dynamic_transforms_compose_across_the_tree(spawn, ros_context):
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    from flash_ros.frames import TF_QOS, FrameError, TopicFrameLookup

    start_static_publisher(spawn, CAMERA_LINK, CAMERA_OPTICAL)
    node = Node("test_frames_listener", context=ros_context)
    try:
        frames = TopicFrameLookup(node)
        got = _wait_for(ros_context, node, frames, "base_link", "camera_optical")
        np.testing.assert_allclose(got, matrix(CAMERA_LINK) @ matrix(CAMERA_OPTICAL), atol=1e-9)

        # A moving base: odom -> base_link at t = 100 s and 101 s; the lookup at 100.25 s slerps between.
        tf = node.create_publisher(TFMessage, "/tf", TF_QOS)
        poses = {100: ["odom", "base_link", 0.0, 0.0, 0.0, *Rotation.from_euler("z", 0.0).as_quat()],
                 101: ["odom", "base_link", 1.0, 2.0, 0.0, *Rotation.from_euler("z", 1.0).as_quat()]}
        msg = TFMessage()
        for sec, entry in poses.items():
            item = TransformStamped(child_frame_id=entry[1])
            item.header.frame_id, item.header.stamp.sec = entry[0], sec
            t, q = item.transform.translation, item.transform.rotation
            t.x, t.y, t.z, q.x, q.y, q.z, q.w = (float(v) for v in entry[2:])
            msg.transforms.append(item)

        def received() -> bool:
            tf.publish(msg)
            try:
                frames.lookup("odom", "base_link", 100.0)
                frames.lookup("odom", "base_link", 101.0)
            except FrameError:
                return False
            return True

        assert spin_until(ros_context, node, received, 15.0), "dynamic transforms did not arrive"
        expected_base = matrix(["odom", "base_link", 0.25, 0.5, 0.0, *Rotation.from_euler("z", 0.25).as_quat()])
        got = frames.lookup("odom", "camera_optical", 100.25)
        np.testing.assert_allclose(got, expected_base @ matrix(CAMERA_LINK) @ matrix(CAMERA_OPTICAL), atol=1e-9)
        np.testing.assert_allclose(frames.lookup("camera_optical", "odom", 100.25), np.linalg.inv(got), atol=1e-9)

        with pytest.raises(FrameError, match="'gripper'"):
            frames.lookup("base_link", "gripper")
        with pytest.raises(FrameError, match="future"):
            frames.lookup("odom", "camera_optical", 105.0)
    finally:
        node.destroy_node()


def test_make_frame_lookup_uses_tf2_ros_only_where_it_is_installed(ros_context):
    from flash_ros.frames import Tf2FrameLookup, TopicFrameLookup, make_frame_lookup

    try:
        import tf2_ros  # noqa: F401
        expected = Tf2FrameLookup
    except ImportError:
        expected = TopicFrameLookup
    node = Node("test_frames_factory", context=ros_context)
    try:
        assert isinstance(make_frame_lookup(node), expected)
    finally:
        node.destroy_node()


@pytest.mark.parametrize("extra, message", [
    (["-p", "cam.parent:=base_link", "-p", "cam.xyz_m:=[0.0, 0.0, 0.5]", "-p", "cam.quat_xyzw:=[0.0, 0.0, 0.0, 0.0]"],
     "cam.quat_xyzw must be 4 numbers of non-zero norm"),
    (["-p", "cam.parent:=base_link", "-p", "cam.xyz_m:=[0.0, 0.5]", "-p", "cam.quat_xyzw:=[0.0, 0.0, 0.0, 1.0]"],
     "cam.xyz_m must be 3 finite numbers"),
    (["-p", "cam.xyz_m:=[0.0, 0.0, 0.5]", "-p", "cam.quat_xyzw:=[0.0, 0.0, 0.0, 1.0]"], "set cam.parent"),
])
def test_static_frames_node_refuses_bad_parameters_naming_them(spawn, extra, message):
    proc = spawn("-m", "flash_ros.static_frames_node", "--ros-args", "-p", 'frames:=["cam"]', *extra)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0 and message in output
