"""`perception`: a depth camera's view of a table -> the target object's cloud for the grasp server.

Thin by design: it converts messages and calls flash_core.perception (workspace crop, RANSAC table plane,
Euclidean clusters, target selection, farthest-point resampling with normals), where the geometry is tested.

Input, either or both:
    cloud_topic         sensor_msgs/PointCloud2 (x, y, z; organised or not, NaN points skipped), any frame
    depth_topic         sensor_msgs/Image, 16UC1 (mm) or 32FC1 (m) z-depth, 0/NaN = no return; with the pinhole
                        intrinsics of the latest sensor_msgs/CameraInfo on camera_info_topic (empty: no depth input)
Output, in base_frame, latched (transient local) so that a node started later gets the latest scene:
    object_topic        the target: PointCloud2 x, y, z, normal_x, normal_y, normal_z (outward: on the seen side
                        they face the camera), at most num_points points (the grasp server's object_topic; its
                        use_latest_object); with complete_occluded, the side the camera does not see is added
    obstacles_topic     the other objects: PointCloud2 x, y, z, cluster (uint32 obstacle index), on a voxel grid
    table_topic         geometry_msgs/PoseStamped of the table's seen rectangle, z along the plane normal
    marker_topic        visualization_msgs/MarkerArray: target, obstacles, table, workspace box

Frames: the camera frame (the input's header.frame_id) -> base_frame through TF at the input's stamp, by
flash_ros.frames: tf2_ros where it imports, else /tf and /tf_static read directly (ROS 2 from PyPI has no tf2_ros;
the bring-up's `static_frames` node publishes the camera's extrinsics there).

Bad input (empty or all-NaN cloud, no frame, a frame TF cannot connect, no table, no object, an object index
beyond those seen) is logged as an error naming the problem, and nothing is published for it; the node keeps
serving. Parameters can be changed at run time (`ros2 param set`); invalid values are
refused with the reason. Defaults: config/perception.yaml (flash_bringup's config folder).

    workspace_min_m, workspace_max_m  crop box in base_frame [x, y, z]
    voxel_size_m, plane_distance_m, max_table_tilt_deg, ransac_iterations, min_table_points,
    min_height_m, max_height_m, cluster_distance_m, min_cluster_points, num_points
                        flash_core.perception.segmentation.SegmentationConfig
    target_mode         "largest" | "closest" (to target_point_m, base frame) | "index" (target_index, objects
                        counted left to right from the robot)
    complete_occluded   bool: complete the target's unseen side by symmetry (flash_core.perception.completion,
                        the camera at the TF origin of the input's frame, up along the table's normal); a view
                        no symmetry explains is sent as seen
"""

from __future__ import annotations

import threading

import numpy as np
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from flash_core.geometry.rigid import transform_points
from flash_core.perception.clusters import voxel_downsample
from flash_core.perception.completion import CompletionError, complete_occluded
from flash_core.perception.plane import PlaneFitConfig
from flash_core.perception.segmentation import (
    ObjectCloud,
    SegmentationConfig,
    SegmentationError,
    TargetSelection,
    object_cloud,
    segment_scene,
    select_target,
)
from flash_core.sim.depth_camera import CameraIntrinsics, back_project
from flash_perception.markers import scene_markers
from flash_ros.cloud import CloudError, pack_cloud, read_points, xyz_columns
from flash_ros.frames import FrameError, make_frame_lookup, matrix_to_pose, stamp_to_seconds
from flash_ros.qos import LATCHED
from flash_ros.run import run_node

DEPTH_SCALE_M = {"16UC1": 1e-3, "mono16": 1e-3, "32FC1": 1.0}  # metres per unit of each depth encoding
# complete_occluded's default: a bare node sends what the camera saw; the graph's config/perception.yaml turns it on.
COMPLETE_OCCLUDED = False

_DEFAULTS = SegmentationConfig()
_PLANE = _DEFAULTS.plane
# name -> default; segmentation and selection parameters, all of which may change at run time.
TUNABLE = {
    "workspace_min_m": list(_DEFAULTS.workspace_min_m),
    "workspace_max_m": list(_DEFAULTS.workspace_max_m),
    "voxel_size_m": _DEFAULTS.voxel_size_m,
    "plane_distance_m": _PLANE.distance_m,
    "max_table_tilt_deg": _PLANE.max_tilt_deg,
    "ransac_iterations": _PLANE.iterations,
    "min_table_points": _DEFAULTS.min_table_points,
    "min_height_m": _DEFAULTS.min_height_m,
    "max_height_m": _DEFAULTS.max_height_m,
    "cluster_distance_m": _DEFAULTS.cluster_distance_m,
    "min_cluster_points": _DEFAULTS.min_cluster_points,
    "num_points": _DEFAULTS.num_points,
    "target_mode": "largest",
    "target_point_m": [0.0, 0.0, 0.0],
    "target_index": 0,
}


class InputError(ValueError):
    """An input message that cannot be used, with the reason."""


def settings_from(values: dict) -> tuple[SegmentationConfig, TargetSelection]:
    """TUNABLE parameter values -> the core's configs; ValueError naming a bad value."""
    plane = PlaneFitConfig(distance_m=float(values["plane_distance_m"]), iterations=int(values["ransac_iterations"]),
                           max_tilt_deg=float(values["max_table_tilt_deg"]))
    config = SegmentationConfig(
        workspace_min_m=tuple(float(v) for v in values["workspace_min_m"]),
        workspace_max_m=tuple(float(v) for v in values["workspace_max_m"]),
        voxel_size_m=float(values["voxel_size_m"]), plane=plane,
        min_table_points=int(values["min_table_points"]), min_height_m=float(values["min_height_m"]),
        max_height_m=float(values["max_height_m"]), cluster_distance_m=float(values["cluster_distance_m"]),
        min_cluster_points=int(values["min_cluster_points"]), num_points=int(values["num_points"]))
    selection = TargetSelection(str(values["target_mode"]), tuple(float(v) for v in values["target_point_m"]),
                                int(values["target_index"]))
    return config, selection


def depth_image_points(image: Image, info: CameraInfo) -> np.ndarray:
    """Depth image -> (P, 3) points in the camera's optical frame for the pixels with a return."""
    if image.encoding not in DEPTH_SCALE_M:
        raise InputError(f"depth encoding {image.encoding!r} is not supported; use one of {sorted(DEPTH_SCALE_M)}")
    if (image.width, image.height) != (info.width, info.height):
        raise InputError(f"depth image is {image.width} x {image.height} but the camera info says "
                         f"{info.width} x {info.height}")
    dtype = np.dtype(np.uint16 if image.encoding != "32FC1" else np.float32).newbyteorder(
        ">" if image.is_bigendian else "<")
    if image.step < image.width * dtype.itemsize or len(image.data) < image.step * image.height:
        raise InputError(f"depth image data ({len(image.data)} bytes, step {image.step}) is too short for "
                         f"{image.width} x {image.height} {image.encoding}")
    rows = np.frombuffer(bytes(image.data), np.uint8, count=image.step * image.height).reshape(image.height, -1)
    depth_m = rows[:, : image.width * dtype.itemsize].copy().view(dtype).astype(np.float64) * DEPTH_SCALE_M[
        image.encoding]
    k = info.k
    try:
        intrinsics = CameraIntrinsics(image.width, image.height, k[0], k[4], k[2], k[5])
    except ValueError as exc:
        raise InputError(f"camera info: {exc}") from exc
    valid = np.isfinite(depth_m) & (depth_m > 0)
    return back_project(np.where(valid, depth_m, 0.0), intrinsics, mask=valid)


class PerceptionNode(Node):
    def __init__(self) -> None:
        super().__init__("flash_perception")
        param = lambda name, default: self.declare_parameter(name, default).value  # noqa: E731
        self._base_frame = param("base_frame", "base_link")
        self._transform_timeout_s = float(param("transform_timeout_s", 0.5))
        self._complete_occluded = bool(param("complete_occluded", COMPLETE_OCCLUDED))
        self._lock = threading.Lock()  # settings change from the parameter service's thread
        self._config, self._selection = settings_from({name: param(name, d) for name, d in TUNABLE.items()})
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._frames = make_frame_lookup(self)
        self._object_pub = self.create_publisher(PointCloud2, param("object_topic", "object_cloud"), LATCHED)
        self._obstacles_pub = self.create_publisher(PointCloud2, param("obstacles_topic", "obstacle_cloud"), LATCHED)
        self._table_pub = self.create_publisher(PoseStamped, param("table_topic", "table_plane"), LATCHED)
        self._marker_pub = self.create_publisher(MarkerArray, param("marker_topic", "perception_markers"), LATCHED)
        self.create_subscription(PointCloud2, param("cloud_topic", "points"), self._on_cloud, 1)
        self._camera_info: CameraInfo | None = None
        depth_topic = param("depth_topic", "")
        if depth_topic:
            self.create_subscription(CameraInfo, param("camera_info_topic", "camera_info"), self._on_info, 1)
            self.create_subscription(Image, depth_topic, self._on_depth, 1)

    def _on_set_parameters(self, params) -> SetParametersResult:
        values = {name: self.get_parameter(name).value for name in TUNABLE}
        values.update({p.name: p.value for p in params if p.name in TUNABLE})
        try:
            settings = settings_from(values)
        except (ValueError, TypeError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        with self._lock:
            self._config, self._selection = settings
        return SetParametersResult(successful=True)

    def _on_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_cloud(self, msg: PointCloud2) -> None:
        self._serve(msg.header, lambda: read_points(msg)["xyz"])

    def _on_depth(self, msg: Image) -> None:
        def points() -> np.ndarray:
            if self._camera_info is None:
                raise InputError("a depth image came before any camera info: no intrinsics to back-project it")
            return depth_image_points(msg, self._camera_info)

        self._serve(msg.header, points)

    def _serve(self, header, read) -> None:
        """Segment one input; any failure is logged with its reason and the node carries on."""
        try:
            self._publish_scene(header, read())
        except (CloudError, InputError, FrameError, SegmentationError) as exc:
            self.get_logger().error(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug must not take the camera pipeline down; say what happened
            if self.context.ok():  # (at shutdown, publishers vanish under a running callback: nothing to report)
                self.get_logger().error(f"unexpected {type(exc).__name__} while segmenting: {exc}")

    def _publish_scene(self, header, points_cam: np.ndarray) -> None:
        if not header.frame_id:
            raise InputError("the input's header.frame_id is empty: say which frame its points are in")
        if len(points_cam) == 0:
            raise InputError("the input holds no valid point")
        base_from_camera = np.eye(4)
        if header.frame_id != self._base_frame:
            base_from_camera = self._frames.lookup(self._base_frame, header.frame_id, stamp_to_seconds(header.stamp),
                                                   self._transform_timeout_s)
        points = transform_points(base_from_camera, np.asarray(points_cam, np.float64))
        with self._lock:
            config, selection = self._config, self._selection
        scene = segment_scene(points, config)
        target = select_target(scene, selection)
        cloud = object_cloud(points[scene.labels == target.label], config.num_points, base_from_camera[:3, 3])
        added = ""
        if self._complete_occluded:
            cloud, added = self._completed(cloud, base_from_camera[:3, 3], scene.table.normal, config.num_points)
        frame, stamp = self._base_frame, header.stamp
        self._object_pub.publish(pack_cloud({**xyz_columns(cloud.points_m), **xyz_columns(cloud.normals, "normal_")},
                                            frame, stamp))
        obstacles = [voxel_downsample(points[scene.labels == o.label], config.voxel_size_m).centroids_m
                     for o in scene.objects if o.label != target.label]
        index = np.concatenate([np.full(len(o), i, np.uint32) for i, o in enumerate(obstacles)] or [np.zeros(0, "u4")])
        self._obstacles_pub.publish(pack_cloud({**xyz_columns(np.concatenate(obstacles or [np.zeros((0, 3))])),
                                                "cluster": index}, frame, stamp))
        table = PoseStamped(pose=matrix_to_pose(scene.table_pose))
        table.header.frame_id, table.header.stamp = frame, stamp
        self._table_pub.publish(table)
        self._marker_pub.publish(scene_markers(frame, stamp, cloud.points_m, obstacles, scene.table_pose,
                                               tuple(float(s) for s in scene.table_size_m),
                                               np.asarray(config.workspace_min_m), np.asarray(config.workspace_max_m)))
        self.get_logger().info(f"target: object {target.label} of {len(scene.objects)} ({target.num_points} points, "
                               f"centroid {np.round(target.centroid_m, 3).tolist()} m), {len(cloud.points_m)} sent"
                               + added)

    def _completed(self, cloud: ObjectCloud, camera_m: np.ndarray, up: np.ndarray,
                   num_points: int) -> tuple[ObjectCloud, str]:
        """The cloud with its unseen side added (thinned back to num_points), and what the log line says of it; a
        cloud that cannot be completed is sent as seen, with a warning."""
        try:
            done = complete_occluded(cloud.points_m, camera_m, cloud.normals, up=up).thinned(num_points)
        except CompletionError as exc:
            self.get_logger().warning(f"the target is sent as seen: {exc}")
            return cloud, ""
        added = int(done.added.sum())
        return ObjectCloud(done.points_m, done.normals), f" ({added} of them added by {done.method} symmetry)"


def main(args=None) -> None:
    run_node(PerceptionNode, args, ready_line="flash_perception ready")


if __name__ == "__main__":
    main()
