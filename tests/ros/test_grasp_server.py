"""The FLASH GenerateGrasp server in its own process, with a real (tiny, untrained) checkpoint, driven
over loopback DDS: grasps with poses in the cloud's frame, feedback, cancel, and bad goals that get a
clear error while the server keeps serving."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rclpy.action import ActionClient
from rclpy.node import Node

from flash_ros.cloud import make_cloud
from tests.ros.conftest import spin_until

pytestmark = pytest.mark.ros


def save_tiny_checkpoint(folder):
    """A real (tiny, untrained) LEAP checkpoint in `folder`; returns its path."""
    from flash_core.hands import make_hand
    from flash_core.model.checkpoint import save_checkpoint
    from tests.core.model.tiny_models import build_model, tiny_config

    hand = make_hand("leap", num_surface_points=256)
    return save_checkpoint(build_model(tiny_config(), hand), folder / "tiny", hand)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def client(module_spawn, module_ros_context, checkpoint):
    from flash_interfaces.action import GenerateGrasp

    ros_context = module_ros_context
    proc = module_spawn("-m", "flash_grasp_server.server_node", "--ros-args", "-p", f"checkpoint:={checkpoint}",
                 "-p", "solver_method:=euler", "-p", "solver_steps:=4")
    node = Node("grasp_server_test_client", context=ros_context)
    action = ActionClient(node, GenerateGrasp, "generate_grasp")
    if not spin_until(ros_context, node, action.server_is_ready, 60.0):
        proc.kill()
        pytest.fail(f"server did not come up:\n{proc.stdout.read()}")
    yield node, action, proc
    node.destroy_node()


def _send(ros_context, node, action, goal, feedback=None):
    send = action.send_goal_async(goal, feedback_callback=feedback)
    assert spin_until(ros_context, node, send.done, 30.0)
    handle = send.result()
    assert handle.accepted
    result = handle.get_result_async()
    assert spin_until(ros_context, node, result.done, 60.0)
    return result.result().result


def _mug_cloud(frame: str):
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(800, 3))
    points = 0.04 * directions / np.linalg.norm(directions, axis=1, keepdims=True) + [0.5, 0.1, 0.05]
    return make_cloud(points, frame)


def test_grasps_come_back_ranked_in_the_cloud_frame(client, module_ros_context):
    from flash_interfaces.action import GenerateGrasp

    node, action, _ = client
    stages = []
    goal = GenerateGrasp.Goal(prompt="grasp the ball", num_grasps=3, use_seed=True, seed=3,
                              object_cloud=_mug_cloud("table"))
    result = _send(module_ros_context, node, action, goal, lambda fb: stages.append(fb.feedback.stage))
    assert result.error_code == GenerateGrasp.Result.SUCCESS, result.message
    assert len(result.grasps) == 3
    scores = [g.score for g in result.grasps]
    assert scores == sorted(scores, reverse=True)
    for g in result.grasps:
        assert g.hand_name == "leap" and g.wrist_pose.header.frame_id == "table"
        assert list(g.joint_names) == [str(i) for i in range(16)] and len(g.joint_positions) == 16
        q = g.wrist_pose.pose.orientation
        assert np.isclose(q.w**2 + q.x**2 + q.y**2 + q.z**2, 1.0, atol=1e-5)
        # The wrist sits near the object (the network works around the cloud's centroid).
        p = g.wrist_pose.pose.position
        assert np.linalg.norm(np.array([p.x, p.y, p.z]) - [0.5, 0.1, 0.05]) < 0.5
        a = g.approach_direction
        assert np.isclose(a.x**2 + a.y**2 + a.z**2, 1.0, atol=1e-5)
        assert len(g.hand_parameters) == 25
    assert result.function_evaluations == 4
    # Feedback and result travel on different topics: the last stage's feedback may arrive after the result.
    spin_until(module_ros_context, node, lambda: "ranking" in stages, 30.0)
    assert {"validating", "encoding", "sampling", "ranking"} <= set(stages)

    # The same seed gives the same grasps.
    again = _send(module_ros_context, node, action, goal)
    assert [g.joint_positions for g in again.grasps] == [g.joint_positions for g in result.grasps]

    # Every result is also published, latched, for Pick goals that name grasps by index: a late subscriber
    # still gets the last one.
    from flash_interfaces.msg import GraspSet
    from flash_ros.qos import LATCHED

    published = []
    node.create_subscription(GraspSet, "generated_grasps", published.append, LATCHED)
    assert spin_until(module_ros_context, node, lambda: published, 30.0), "no GraspSet on generated_grasps"
    assert published[-1].prompt == "grasp the ball" and published[-1].header.frame_id == "table"
    assert [g.id for g in published[-1].grasps] == [g.id for g in again.grasps]


def test_grasps_stay_above_the_table_perception_reports(client, module_ros_context):
    from geometry_msgs.msg import PoseStamped

    from flash_core.hands import make_hand
    from flash_interfaces.action import GenerateGrasp
    from flash_ros.qos import LATCHED

    node, action, _ = client
    table = PoseStamped()
    table.header.frame_id = "table"
    table.pose.position.z = 0.01  # the ball of _mug_cloud rests on it (centre z 0.05, radius 0.04)
    table.pose.orientation.w = 1.0
    publisher = node.create_publisher(PoseStamped, "table_plane", LATCHED)
    publisher.publish(table)
    goal = GenerateGrasp.Goal(prompt="grasp the ball", num_grasps=4, use_seed=True, seed=5,
                              object_cloud=_mug_cloud("table"))
    spin_until(module_ros_context, node, lambda: False, 1.0)  # the latched table reaches the server
    result = _send(module_ros_context, node, action, goal)
    assert result.error_code == GenerateGrasp.Result.SUCCESS, result.message
    hand = make_hand("leap")
    x = torch.tensor(np.stack([g.hand_parameters for g in result.grasps]), dtype=hand.dtype)
    assert hand.surface_points(x)[..., 2].amin() > 0.01 - 1e-3  # no hand through the table
    node.destroy_publisher(publisher)


@pytest.mark.parametrize("case, code, words", [
    ("empty_cloud", "NO_OBJECT", "empty"),
    ("nan_cloud", "NO_OBJECT", "no finite"),
    ("empty_prompt", "INVALID_GOAL", "prompt"),
    ("unknown_hand", "UNKNOWN_HAND", "allegro"),
    ("other_frame", "INVALID_GOAL", "target_frame"),
    ("no_latest_object", "NO_OBJECT", "no object cloud"),
])
def test_bad_goals_get_a_named_error_and_the_server_keeps_serving(client, module_ros_context, case, code, words):
    from flash_interfaces.action import GenerateGrasp

    node, action, proc = client
    goal = GenerateGrasp.Goal(prompt="grasp it", num_grasps=1, object_cloud=_mug_cloud("table"))
    if case == "empty_cloud":
        goal.object_cloud = make_cloud(np.zeros((0, 3)), "table")
    elif case == "nan_cloud":
        goal.object_cloud = make_cloud(np.full((10, 3), np.nan), "table")
    elif case == "empty_prompt":
        goal.prompt = "  "
    elif case == "unknown_hand":
        goal.hand_name = "allegro"
    elif case == "other_frame":
        goal.target_frame = "base_link"
    elif case == "no_latest_object":
        goal.use_latest_object = True
    result = _send(module_ros_context, node, action, goal)
    assert result.error_code == getattr(GenerateGrasp.Result, code)
    assert words in result.message
    ok = _send(module_ros_context, node, action, GenerateGrasp.Goal(prompt="grasp it", num_grasps=1,
                                                                object_cloud=_mug_cloud("table")))
    assert ok.error_code == GenerateGrasp.Result.SUCCESS and proc.poll() is None


def test_missing_checkpoint_fails_at_start_with_a_clear_message(spawn, tmp_path):
    proc = spawn("-m", "flash_grasp_server.server_node", "--ros-args", "-p", f"checkpoint:={tmp_path / 'nope'}")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "nope" in output and "Traceback" not in output, output


def test_without_a_checkpoint_the_packaged_default_model_is_served(spawn, ros_context):
    """Where no default model ships, the server says so in GraspGenerator's one line and exits."""
    from flash_core.generator import GraspGenerator, default_checkpoint
    from flash_interfaces.action import GenerateGrasp

    proc = spawn("-m", "flash_grasp_server.server_node", "--ros-args", "-r", "__ns:=/default_model")
    if default_checkpoint() is None:
        with pytest.raises(FileNotFoundError) as missing:
            GraspGenerator.from_checkpoint(None)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert str(missing.value) in output and "Traceback" not in output, output
        return
    node = Node("default_model_client", context=ros_context)
    try:
        action = ActionClient(node, GenerateGrasp, "/default_model/generate_grasp")
        assert spin_until(ros_context, node, action.server_is_ready, 60.0), proc.stdout.read()
        result = _send(ros_context, node, action, GenerateGrasp.Goal(prompt="grasp it", num_grasps=1,
                                                                     object_cloud=_mug_cloud("table")))
        assert result.error_code == GenerateGrasp.Result.SUCCESS, result.message
    finally:
        node.destroy_node()
