"""`sim`: the MuJoCo world (`flash_sim.world`) on the topics an Isaac Sim scene with its ROS 2 bridge speaks.

    python -m flash_sim.sim_node --ros-args -p scene:=tabletop -p object:=bottle -p record_dir:=/tmp/frames

Publishes /clock (the graph runs on sim time), /isaac_joint_states (joint_1..joint_7 then the LEAP joints
"0".."15": position, velocity, effort) every physics publish tick, /camera/depth/points (PointCloud2, x y z
float32 in camera_depth_optical_frame) and /camera/depth/camera_info at camera_rate_hz, /tf_static (world ->
base_link, base_link -> camera_depth_optical_frame) and /tf (every robot link from base_link, world ->
object/<name>) at tf_rate_hz. Subscribes /isaac_joint_commands (JointState name + position: targets held until
the next command; a message with unknown names, a size mismatch or NaN is dropped with a warning). Never
publishes joint commands itself. Service ~/reset (std_srvs/Empty) puts the world back to its start; the clock
keeps running forward.

Pacing: a loop thread steps the physics in batches (one MuJoCo call per publish tick) and sleeps to hold
`real_time_factor` (1.0 real time, 0 as fast as possible); it logs the achieved factor every report_period_s.
Recording: with `record_dir` set, the overview camera's frames go to record_dir/frame_<sim ms, 8 digits>.png at
record_fps (sim time).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, JointState, PointCloud2
from std_srvs.srv import Empty
from tf2_msgs.msg import TFMessage

from flash_core.geometry.rigid import transform_to_quaternion
from flash_ros.cloud import make_cloud
from flash_ros.frames import TF_QOS, TF_STATIC_QOS
from flash_ros.run import run_node
from flash_sim.world import SimWorld

OPTICAL_FRAME = "camera_depth_optical_frame"


def _stamp(time_s: float):
    from builtin_interfaces.msg import Time

    nanoseconds = int(round(time_s * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def _transform(parent: str, child: str, matrix: np.ndarray, stamp) -> TransformStamped:
    translation, quaternion = transform_to_quaternion(matrix)
    msg = TransformStamped(child_frame_id=child)
    msg.header.frame_id, msg.header.stamp = parent, stamp
    t, q = msg.transform.translation, msg.transform.rotation
    t.x, t.y, t.z = (float(v) for v in translation)
    q.x, q.y, q.z, q.w = (float(v) for v in quaternion)
    return msg


class Every:
    """True once per `period_s` of sim time (never when the rate is 0)."""

    def __init__(self, rate_hz: float) -> None:
        self.period_s = 1.0 / rate_hz if rate_hz > 0 else None
        self.next_s = 0.0

    def due(self, time_s: float) -> bool:
        if self.period_s is None or time_s + 1e-9 < self.next_s:
            return False
        self.next_s = (np.floor(time_s / self.period_s + 1e-9) + 1) * self.period_s
        return True


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim")
        param = lambda name, default: self.declare_parameter(name, default).value  # noqa: E731
        scene, obj, seed = param("scene", "tabletop"), param("object", ""), int(param("seed", 0))
        self.real_time_factor = float(param("real_time_factor", 1.0))
        joint_state_rate_hz = float(param("joint_state_rate_hz", 100.0))
        camera_rate_hz = float(param("camera_rate_hz", 5.0))
        tf_rate_hz = float(param("tf_rate_hz", 20.0))
        self.report_period_s = float(param("report_period_s", 5.0))
        record_dir, record_fps = str(param("record_dir", "")), float(param("record_fps", 10.0))
        if min(self.real_time_factor, camera_rate_hz, tf_rate_hz, record_fps) < 0 or joint_state_rate_hz <= 0:
            raise ValueError("real_time_factor, camera_rate_hz, tf_rate_hz and record_fps must be >= 0, "
                             "joint_state_rate_hz > 0")
        started = time.perf_counter()
        self.world = SimWorld.from_scene(scene, seed, object=obj or None)
        self.get_logger().info(f"scene {self.world.scene.name!r} with {list(self.world.object_meshes)} (seed {seed}) "
                               f"built in {time.perf_counter() - started:.1f} s")
        self.publish_period_s = 1.0 / joint_state_rate_hz
        self.camera, self.tf = Every(camera_rate_hz), Every(tf_rate_hz)
        self.recording = Every(record_fps if record_dir else 0.0)
        self.record_dir = Path(record_dir)
        if record_dir:
            self.record_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()  # the world is shared by the loop thread and the executor's callbacks

        reliable = QoSProfile(depth=10)
        self.clock_pub = self.create_publisher(Clock, "/clock", reliable)
        self.joint_pub = self.create_publisher(JointState, "/isaac_joint_states", reliable)
        self.cloud_pub = self.create_publisher(PointCloud2, "/camera/depth/points", QoSProfile(depth=2))
        self.info_pub = self.create_publisher(CameraInfo, "/camera/depth/camera_info", QoSProfile(depth=2))
        self.tf_pub = self.create_publisher(TFMessage, "/tf", TF_QOS)
        self.tf_static_pub = self.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
        self.create_subscription(JointState, "/isaac_joint_commands", self._on_command, 10)
        self._make_reset()
        self._publish_static()

        self.running = True
        self.thread = threading.Thread(target=self._loop, name="sim_loop", daemon=True)
        self.thread.start()

    def _make_reset(self) -> None:
        def serve(_request, response):
            self._reset()
            return response

        self.create_service(Empty, "~/reset", serve)

    def _reset(self) -> None:
        with self.lock:
            self.world.reset(keep_time=True)
        self.get_logger().info("world reset")

    def _on_command(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position):
            self.get_logger().warning(f"dropped a joint command: {len(msg.name)} names but {len(msg.position)} "
                                      "positions")
            return
        try:
            with self.lock:
                self.world.set_targets(list(msg.name), list(msg.position))
        except ValueError as exc:
            self.get_logger().warning(f"dropped a joint command: {exc}")

    def _publish_static(self) -> None:
        stamp = _stamp(self.world.time_s)
        self.tf_static_pub.publish(TFMessage(transforms=[
            _transform("world", "base_link", self.world.base_pose(), stamp),
            _transform("base_link", OPTICAL_FRAME, self.world.depth_camera_pose(), stamp),
        ]))

    # --- the loop ------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            self._run()
        except Exception as exc:  # the context went away under a publish: shutting down
            if self.context.ok():
                raise
            self.get_logger().debug(f"loop ended at shutdown: {exc}")
        finally:
            self.world.close()  # in this thread: the renderers' OpenGL contexts are current here

    def _run(self) -> None:
        wall_start, sim_start = time.perf_counter(), self.world.time_s
        report_wall, report_sim = wall_start, sim_start
        tick = 0
        while self.running and self.context.ok():
            tick += 1
            with self.lock:
                target_s = sim_start + tick * self.publish_period_s
                steps = max(1, int(round((target_s - self.world.time_s) / self.world.timestep_s)))
                self.world.step(steps)
                self._publish_tick()
            if self.real_time_factor > 0:
                delay = wall_start + (tick * self.publish_period_s) / self.real_time_factor - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -1.0:  # more than a second behind (a slow frame): catch up no further than now
                    wall_start -= delay
            now = time.perf_counter()
            if now - report_wall >= self.report_period_s:
                factor = (self.world.time_s - report_sim) / (now - report_wall)
                self.get_logger().info(f"real-time factor {factor:.2f} (sim time {self.world.time_s:.1f} s)")
                report_wall, report_sim = now, self.world.time_s

    def _publish_tick(self) -> None:
        world, time_s = self.world, self.world.time_s
        stamp = _stamp(time_s)
        self.clock_pub.publish(Clock(clock=stamp))
        state = world.joint_state()
        msg = JointState(name=list(state.names), position=state.positions_rad.tolist(),
                         velocity=state.velocities_rad_s.tolist(), effort=state.efforts_nm.tolist())
        msg.header.stamp = stamp
        self.joint_pub.publish(msg)
        if self.tf.due(time_s):
            transforms = [_transform("base_link", name, pose, stamp) for name, pose in world.link_poses().items()]
            transforms += [_transform("world", f"object/{name}", pose, stamp)
                           for name, pose in world.object_poses().items()]
            self.tf_pub.publish(TFMessage(transforms=transforms))
        if self.camera.due(time_s):
            cloud = world.depth_cloud()
            self.cloud_pub.publish(make_cloud(cloud.points_m, OPTICAL_FRAME, stamp))
            self.info_pub.publish(self._camera_info(cloud.intrinsics, stamp))
        if self.recording.due(time_s):
            from PIL import Image

            # Fast zlib level: the default spends more CPU compressing than rendering (the frames are temporary).
            Image.fromarray(world.rgb_frame()).save(self.record_dir / f"frame_{int(round(time_s * 1000)):08d}.png",
                                                    compress_level=1)

    @staticmethod
    def _camera_info(intrinsics, stamp) -> CameraInfo:
        k = intrinsics.matrix()
        msg = CameraInfo(width=intrinsics.width, height=intrinsics.height, distortion_model="plumb_bob",
                         d=[0.0] * 5, k=k.ravel().tolist(), r=np.eye(3).ravel().tolist(),
                         p=np.hstack([k, np.zeros((3, 1))]).ravel().tolist())
        msg.header.frame_id, msg.header.stamp = OPTICAL_FRAME, stamp
        return msg

    def destroy_node(self) -> None:
        self.running = False
        self.thread.join(timeout=5.0)
        super().destroy_node()


def main(args=None) -> None:
    run_node(SimNode, args, ready_line="ready")


if __name__ == "__main__":
    main()
