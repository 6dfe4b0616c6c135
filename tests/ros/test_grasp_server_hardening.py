"""The GenerateGrasp server against the goals of careless or impatient users, in its own process over loopback DDS:
malformed clouds, NaN normals, out-of-range requests, several goals at once with cancels and budgets, and Ctrl-C in
the middle of a goal. Every goal must end in a result with a named error code and message, and the server must
keep serving."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from rclpy.action import ActionClient
from rclpy.node import Node

from flash_ros.cloud import make_cloud
from tests.ros.conftest import spin_until
from tests.ros.test_grasp_server import _mug_cloud, _send, save_tiny_checkpoint

pytestmark = pytest.mark.ros

# Long enough that a goal of LONG_K grasps runs for seconds while others queue behind it.
SLOW_STEPS, LONG_K = 300, 64


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def _start(spawn, ros_context, checkpoint, steps: int, namespace: str):
    """A server in its own namespace (servers of other tests may still run) and a client of it."""
    from flash_interfaces.action import GenerateGrasp

    proc = spawn("-m", "flash_grasp_server.server_node", "--ros-args", "-r", f"__ns:=/{namespace}",
                 "-p", f"checkpoint:={checkpoint}", "-p", "solver_method:=euler", "-p", f"solver_steps:={steps}",
                 "-p", "max_waiting_goals:=4")
    node = Node(f"{namespace}_client", context=ros_context)
    action = ActionClient(node, GenerateGrasp, f"/{namespace}/generate_grasp")
    if not spin_until(ros_context, node, action.server_is_ready, 60.0):
        proc.kill()
        pytest.fail(f"server did not come up:\n{proc.stdout.read()}")
    return proc, node, action


@pytest.fixture(scope="module")
def client(module_spawn, module_ros_context, checkpoint):
    proc, node, action = _start(module_spawn, module_ros_context, checkpoint, 4, "bad_goals")
    yield node, action, proc
    node.destroy_node()


def _cloud_with_normals(points: np.ndarray, normals: np.ndarray, frame: str):
    from sensor_msgs.msg import PointField

    msg = make_cloud(points, frame)
    names = ["x", "y", "z", "normal_x", "normal_y", "normal_z"]
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate(names)]
    msg.point_step, msg.row_step = 24, 24 * len(points)
    msg.data = np.concatenate((points, normals), axis=1).astype(np.float32).tobytes()
    return msg


def _ball(n: int = 800) -> tuple[np.ndarray, np.ndarray]:
    directions = np.random.default_rng(0).normal(size=(n, 3))
    normals = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return 0.04 * normals + [0.5, 0.1, 0.05], normals


def _bad_goal(case: str):
    from builtin_interfaces.msg import Duration
    from sensor_msgs.msg import PointField

    from flash_interfaces.action import GenerateGrasp

    goal = GenerateGrasp.Goal(prompt="grasp it", num_grasps=2, object_cloud=_mug_cloud("table"))
    cloud = goal.object_cloud
    n = cloud.width
    if case == "point_step_8":
        cloud.point_step, cloud.row_step, cloud.data = 8, 8 * n, cloud.data[: 8 * n]
    elif case == "offset_past_point_step":
        cloud.fields[2].offset = 20
    elif case == "duplicate_field":
        cloud.fields = [*cloud.fields, PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1)]
    elif case == "short_row_step":
        cloud.height, cloud.width, cloud.row_step = 2, n // 2, 12 * (n // 2) - 4
    elif case == "wrong_data_length":
        cloud.data = bytes(cloud.data) + b"\0" * 5
    elif case == "nan_normals":
        points, normals = _ball()
        goal.object_cloud = _cloud_with_normals(points, np.full_like(normals, np.nan), "table")
    elif case == "inf_points":
        points, normals = _ball()
        points[20:] = np.inf
        goal.object_cloud = _cloud_with_normals(points, normals, "table")
    elif case == "huge_coordinates":
        goal.object_cloud = make_cloud(_ball()[0] * 1e6, "table")
    elif case == "one_point":
        goal.object_cloud = make_cloud(np.array([[0.5, 0.1, 0.05]]), "table")
    elif case == "empty_frame":
        goal.object_cloud = make_cloud(_ball()[0], "")
    elif case == "too_many_grasps":
        goal.num_grasps = 100_000
    elif case == "negative_budget":
        goal.time_budget = Duration(sec=-1, nanosec=500_000_000)
    return goal


@pytest.mark.parametrize("case, code, words", [
    ("point_step_8", "INVALID_GOAL", "past point_step 8"),
    ("offset_past_point_step", "INVALID_GOAL", "past point_step 12"),
    ("duplicate_field", "INVALID_GOAL", "more than once"),
    ("short_row_step", "INVALID_GOAL", "row_step"),
    ("wrong_data_length", "INVALID_GOAL", "bytes"),
    ("nan_normals", "NO_OBJECT", "800 of 800 dropped"),
    ("inf_points", "NO_OBJECT", "20 usable points"),
    ("huge_coordinates", "INVALID_GOAL", "units"),
    ("one_point", "NO_OBJECT", "1 usable points; at least 32"),
    ("empty_frame", "INVALID_GOAL", "frame_id is empty"),
    ("too_many_grasps", "INVALID_GOAL", "num_grasps 100000 is out of range: 1..256"),
    ("negative_budget", "INVALID_GOAL", "time_budget -0.5"),
])
def test_bad_goals_get_a_named_error_and_the_server_keeps_serving(client, module_ros_context, case, code, words):
    from flash_interfaces.action import GenerateGrasp

    node, action, proc = client
    started = time.monotonic()
    result = _send(module_ros_context, node, action, _bad_goal(case))
    assert result.error_code == getattr(GenerateGrasp.Result, code), result.message
    assert words in result.message
    assert not result.grasps and time.monotonic() - started < 5.0
    ok = _send(module_ros_context, node, action, GenerateGrasp.Goal(prompt="grasp it", num_grasps=1,
                                                                object_cloud=_mug_cloud("table")))
    assert ok.error_code == GenerateGrasp.Result.SUCCESS, ok.message
    assert proc.poll() is None


def test_rows_with_nan_normals_are_dropped_and_scores_stay_finite(client, module_ros_context):
    from flash_interfaces.action import GenerateGrasp

    node, action, _ = client
    points, normals = _ball()
    normals[::2] = np.nan
    result = _send(module_ros_context, node, action, GenerateGrasp.Goal(
        prompt="grasp it", num_grasps=4, object_cloud=_cloud_with_normals(points, normals, "table")))
    assert result.error_code == GenerateGrasp.Result.SUCCESS, result.message
    assert "400 points, 400 dropped" in result.message
    assert len(result.grasps) == 4
    assert all(np.isfinite(g.score) and np.isfinite(g.hand_parameters).all() for g in result.grasps)


def _send_async(ros_context, node, action, goal):
    """Send a goal; returns (handle, seconds until it was accepted)."""
    started = time.monotonic()
    send = action.send_goal_async(goal)
    assert spin_until(ros_context, node, send.done, 30.0)
    handle = send.result()
    assert handle.accepted
    return handle, time.monotonic() - started


def _cancel(ros_context, node, handle) -> float:
    started = time.monotonic()
    cancel = handle.cancel_goal_async()
    assert spin_until(ros_context, node, cancel.done, 30.0)
    assert len(cancel.result().goals_canceling) == 1
    return time.monotonic() - started


def _wait_result(ros_context, node, handle, timeout_s: float):
    future = handle.get_result_async()
    assert spin_until(ros_context, node, future.done, timeout_s), "no result in time"
    return future.result().result


def test_queue_cancel_budget_and_ctrl_c(spawn, ros_context, checkpoint):
    """Waiting goals hold no thread of the server: they are accepted, cancelled and timed out at once while a long
    goal runs, and goals beyond the queue's capacity are rejected; cancel and budget stop a running goal with the
    evaluations done; Ctrl-C ends the running and the waiting goal with results, and the server exits without a
    traceback."""
    from builtin_interfaces.msg import Duration

    from flash_interfaces.action import GenerateGrasp

    Result = GenerateGrasp.Result
    proc, node, action = _start(spawn, ros_context, checkpoint, SLOW_STEPS, "queue")

    def goal(k: int, budget_s: float = 0.0):
        return GenerateGrasp.Goal(prompt="grasp it", num_grasps=k, object_cloud=_mug_cloud("table"),
                                  time_budget=Duration(sec=int(budget_s), nanosec=int(budget_s % 1 * 1e9)))

    def start_long_goal():
        stages = []
        send = action.send_goal_async(goal(LONG_K), feedback_callback=lambda fb: stages.append(fb.feedback.stage))
        assert spin_until(ros_context, node, lambda: "sampling" in stages, 20.0)
        return send.result()

    try:
        running = start_long_goal()
        running_result = running.get_result_async()
        # Four goals behind the running one (max_waiting_goals), each accepted at once; a fifth is rejected.
        times_out, cancelled, last, extra = [_send_async(ros_context, node, action, g)
                                             for g in (goal(1, budget_s=1.0), goal(1), goal(1), goal(1))]
        assert max(t for _, t in (times_out, cancelled, last, extra)) < 1.0
        rejected = action.send_goal_async(goal(1))
        assert spin_until(ros_context, node, rejected.done, 30.0) and not rejected.result().accepted
        assert _cancel(ros_context, node, extra[0]) < 1.0
        assert _cancel(ros_context, node, cancelled[0]) < 1.0
        started = time.monotonic()
        result = _wait_result(ros_context, node, cancelled[0], 5.0)
        assert result.error_code == Result.CANCELED and result.function_evaluations == 0
        assert time.monotonic() - started < 1.0
        assert _wait_result(ros_context, node, extra[0], 1.0).error_code == Result.CANCELED
        result = _wait_result(ros_context, node, times_out[0], 5.0)
        assert result.error_code == Result.TIMED_OUT and result.function_evaluations == 0, result.message
        assert 1.0 <= result.elapsed.sec + result.elapsed.nanosec * 1e-9 < 2.0
        assert not running_result.done(), "the long goal ended too soon for this test to mean anything"

        # Cancelling the running goal stops its sampling and reports the evaluations done; the next goal then runs.
        _cancel(ros_context, node, running)
        result = _wait_result(ros_context, node, running, 5.0)
        assert result.error_code == Result.CANCELED and 0 < result.function_evaluations < SLOW_STEPS
        result = _wait_result(ros_context, node, last[0], 30.0)
        assert result.error_code == Result.SUCCESS and result.function_evaluations == SLOW_STEPS

        # A budget that runs out while sampling: TIMED_OUT, with the evaluations done.
        handle, _ = _send_async(ros_context, node, action, goal(LONG_K, budget_s=0.5))
        result = _wait_result(ros_context, node, handle, 10.0)
        assert result.error_code == Result.TIMED_OUT and 0 < result.function_evaluations < SLOW_STEPS

        # Ctrl-C with one goal running and one waiting: both get a result, the server exits cleanly.
        running = start_long_goal()
        waiting, _ = _send_async(ros_context, node, action, goal(1))
        results = [h.get_result_async() for h in (running, waiting)]
        os.kill(proc.pid, signal.SIGINT)
        got_results = spin_until(ros_context, node, lambda: all(r.done() for r in results), 5.0)
        output, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "Traceback" not in output, output
        assert got_results, f"no results after Ctrl-C:\n{output}"
        for r in results:
            assert r.result().result.error_code == Result.INTERNAL_ERROR
            assert "shutting down" in r.result().result.message
    finally:
        node.destroy_node()
