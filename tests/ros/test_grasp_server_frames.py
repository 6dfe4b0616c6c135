"""The GenerateGrasp server with a cloud in a camera frame and target_frame base_link, TF coming from a
static transform publisher in another process: the grasps must equal, pose for pose, those generated from
the same cloud already expressed in base_link (the composition done here with scipy), and a target frame TF
cannot reach is a named INVALID_GOAL while the server keeps serving."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.action import ActionClient
from rclpy.node import Node

from flash_ros.cloud import make_cloud
from tests.ros.conftest import spin_until
from tests.ros.test_frames import CAMERA_LINK, CAMERA_OPTICAL, matrix, start_static_publisher
from tests.ros.test_grasp_server import _send, save_tiny_checkpoint

pytestmark = pytest.mark.ros

BASE_FROM_CAMERA = matrix(CAMERA_LINK) @ matrix(CAMERA_OPTICAL)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def _ball_in_base() -> np.ndarray:
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(600, 3))
    return 0.04 * directions / np.linalg.norm(directions, axis=1, keepdims=True) + [0.55, -0.05, 0.06]


def _pose(grasp) -> np.ndarray:
    from flash_ros.frames import pose_to_matrix

    return pose_to_matrix(grasp.wrist_pose.pose)


def test_camera_cloud_gives_grasps_in_the_target_frame(spawn, ros_context, checkpoint):
    from flash_core.geometry.rigid import transform_points
    from flash_interfaces.action import GenerateGrasp

    start_static_publisher(spawn, CAMERA_LINK, CAMERA_OPTICAL)
    server = spawn("-m", "flash_grasp_server.server_node", "--ros-args", "-p", f"checkpoint:={checkpoint}",
                   "-p", "solver_method:=euler", "-p", "solver_steps:=4", "-p", "transform_timeout_s:=3.0")
    node = Node("grasp_server_frames_client", context=ros_context)
    try:
        action = ActionClient(node, GenerateGrasp, "generate_grasp")
        assert spin_until(ros_context, node, action.server_is_ready, 60.0), "grasp server did not come up"
        base_points = _ball_in_base()
        camera_cloud = make_cloud(transform_points(np.linalg.inv(BASE_FROM_CAMERA), base_points), "camera_optical")
        common = dict(prompt="grasp the ball", num_grasps=3, use_seed=True, seed=5)

        moved = _send(ros_context, node, action, GenerateGrasp.Goal(object_cloud=camera_cloud,
                                                                     target_frame="base_link", **common))
        assert moved.error_code == GenerateGrasp.Result.SUCCESS, moved.message
        direct = _send(ros_context, node, action, GenerateGrasp.Goal(object_cloud=make_cloud(base_points, "base_link"),
                                                                      **common))
        assert direct.error_code == GenerateGrasp.Result.SUCCESS, direct.message
        assert len(moved.grasps) == len(direct.grasps) == 3
        for got, want in zip(moved.grasps, direct.grasps):
            assert got.wrist_pose.header.frame_id == "base_link"
            np.testing.assert_allclose(_pose(got), _pose(want), atol=1e-4)
            a, b = got.approach_direction, want.approach_direction
            np.testing.assert_allclose([a.x, a.y, a.z], [b.x, b.y, b.z], atol=1e-4)
            np.testing.assert_allclose(got.hand_parameters, want.hand_parameters, atol=1e-4)

        # Without a target frame, the grasps stay in the cloud's frame.
        local = _send(ros_context, node, action, GenerateGrasp.Goal(object_cloud=camera_cloud, **common))
        assert local.error_code == GenerateGrasp.Result.SUCCESS
        assert {g.wrist_pose.header.frame_id for g in local.grasps} == {"camera_optical"}

        lost = _send(ros_context, node, action, GenerateGrasp.Goal(object_cloud=camera_cloud, target_frame="nowhere",
                                                                   **common))
        assert lost.error_code == GenerateGrasp.Result.INVALID_GOAL and "'nowhere'" in lost.message
        again = _send(ros_context, node, action, GenerateGrasp.Goal(object_cloud=camera_cloud,
                                                                     target_frame="base_link", **common))
        assert again.error_code == GenerateGrasp.Result.SUCCESS and server.poll() is None
    finally:
        node.destroy_node()
