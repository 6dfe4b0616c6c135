"""The sim node in its own process on the Isaac Sim topic contract, with this process as the other side over real
DDS on loopback: the clock, joint states, the depth cloud on the object, TF, commands (good and malformed) and
reset; the sim never publishes joint commands itself."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from tests.ros.conftest import spin_until

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("mujoco")

from rclpy.node import Node  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, JointState, PointCloud2  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from flash_core.hands.spec import load_spec  # noqa: E402
from flash_ros.cloud import read_points  # noqa: E402
from flash_ros.frames import TF_QOS, TF_STATIC_QOS, transform_to_matrix  # noqa: E402

CONTRACT_NAMES = [f"joint_{i}" for i in range(1, 8)] + list(load_spec("leap").joint_names)


class _Listener:
    def __init__(self, node: Node) -> None:
        self.clock: list[float] = []
        self.states: list[JointState] = []
        self.clouds: list[PointCloud2] = []
        self.infos: list[CameraInfo] = []
        self.static: dict[str, np.ndarray] = {}
        self.frames: set[str] = set()
        self.commands = 0
        node.create_subscription(Clock, "/clock", lambda m: self.clock.append(m.clock.sec + m.clock.nanosec * 1e-9), 10)
        node.create_subscription(JointState, "/isaac_joint_states", self.states.append, 10)
        node.create_subscription(PointCloud2, "/camera/depth/points", self.clouds.append, 2)
        node.create_subscription(CameraInfo, "/camera/depth/camera_info", self.infos.append, 2)
        node.create_subscription(TFMessage, "/tf_static", self._on_static, TF_STATIC_QOS)
        node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS)
        node.create_subscription(JointState, "/isaac_joint_commands", self._on_command, 10)

    def _on_static(self, msg: TFMessage) -> None:
        for t in msg.transforms:
            self.static[f"{t.header.frame_id}->{t.child_frame_id}"] = transform_to_matrix(t.transform)

    def _on_tf(self, msg: TFMessage) -> None:
        self.frames.update(f"{t.header.frame_id}->{t.child_frame_id}" for t in msg.transforms)

    def _on_command(self, _msg: JointState) -> None:
        self.commands += 1

    def position(self, joint: str) -> float:
        state = self.states[-1]
        return state.position[list(state.name).index(joint)]


def _reset_request(node: Node):
    """The sim's ~/reset (std_srvs/Empty)."""
    from std_srvs.srv import Empty as EmptyService

    client = node.create_client(EmptyService, "/sim/reset")
    return lambda: client.call_async(EmptyService.Request())


def test_sim_node_speaks_the_isaac_topic_contract(spawn, ros_context):
    sim = spawn("-m", "flash_sim.sim_node", "--ros-args", "-p", "real_time_factor:=1.0", "-p", "report_period_s:=0.5")
    node = Node("sim_test_client", context=ros_context)
    listener = _Listener(node)
    commands = node.create_publisher(JointState, "/isaac_joint_commands", 10)
    reset = _reset_request(node)
    wait = lambda predicate, timeout_s=15.0: spin_until(ros_context, node, predicate, timeout_s)  # noqa: E731
    try:
        published = wait(lambda: (len(listener.clouds) >= 1 and len(listener.infos) >= 1
                                  and len(listener.states) >= 10 and len(listener.static) >= 2), 40.0)
        assert published, f"the sim published nothing; its output:\n{sim.stdout.read() if sim.poll() else ''}"
        # The clock runs forward, joint states carry the contract's names, position, velocity and effort.
        assert listener.clock[-1] > listener.clock[0] and np.all(np.diff(listener.clock) > 0)
        state = listener.states[-1]
        assert list(state.name) == CONTRACT_NAMES
        assert len(state.position) == len(state.velocity) == len(state.effort) == 23
        # The cloud, in the optical frame, lands on the mug 0.5 m in front of the robot, seen from one side.
        cloud = listener.clouds[-1]
        assert cloud.header.frame_id == "camera_depth_optical_frame"
        info = listener.infos[-1]
        assert (info.width, info.height) == (320, 240) and info.k[0] == pytest.approx(info.k[4])
        camera = listener.static["base_link->camera_depth_optical_frame"]
        assert listener.static["world->base_link"][2, 3] > 0  # the robot base on the table top
        points = read_points(cloud)["xyz"] @ camera[:3, :3].T + camera[:3, 3]
        mug = (np.linalg.norm(points[:, :2] - [0.5, 0.0], axis=1) < 0.07) & (points[:, 2] > 0.005)
        assert mug.sum() > 300 and points[mug, 2].max() < 0.13
        assert np.abs(points[np.linalg.norm(points[:, :2] - [0.5, 0.0], axis=1) > 0.15, 2]).min() < 1e-3  # table
        assert wait(lambda: {"base_link->leap_palm", "world->object/mug"} <= listener.frames), listener.frames
        # The sim itself never commands joints.
        assert listener.commands == 0
        publishers = node.get_publishers_info_by_topic("/isaac_joint_commands")
        assert [p.node_name for p in publishers] == ["sim_test_client"]

        # Malformed commands are dropped; the node keeps serving and then tracks a good one.
        start = listener.position("joint_1")
        for bad in (JointState(name=["joint_99"], position=[0.1]), JointState(name=["joint_1"], position=[np.nan]),
                    JointState(name=["joint_1", "3"], position=[0.1])):
            commands.publish(bad)
        wait(lambda: False, 0.5)
        assert listener.position("joint_1") == pytest.approx(start, abs=1e-3)
        commands.publish(JointState(name=["joint_1", "3"], position=[start + 0.3, 0.6]))
        assert wait(lambda: abs(listener.position("joint_1") - (start + 0.3)) < 0.01
                    and abs(listener.position("3") - 0.6) < 0.05), (listener.position("joint_1"), start)
        # Reset: back to the start, with the clock still running forward.
        before = listener.clock[-1]
        reset()
        assert wait(lambda: abs(listener.position("joint_1") - start) < 1e-3)
        assert listener.clock[-1] > before
    finally:
        node.destroy_node()
        os.killpg(sim.pid, signal.SIGINT)
        sim.wait(timeout=10)
    log = sim.stdout.read()
    assert sim.returncode == 0, log
    for reason in ("unknown joints ['joint_99']", "must be finite", "2 names but 1 positions", "real-time factor",
                   "world reset"):
        assert reason in log, f"{reason!r} not logged:\n{log}"
    assert "Traceback" not in log
