"""flash_bringup.pick_demo.PickClient.run_goal against a real Pick action server in this process (its own context
and executor thread): a goal whose answer is lost is followed by its id; a goal the server never got ends with a
clear error instead of a wait until the timeout."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.ros


@pytest.fixture
def pick_server(ros_env):
    import rclpy
    from rclpy.action import ActionServer
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node

    from flash_interfaces.action import Pick

    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("test_pick_server", context=context)
    executed = []

    def execute(goal_handle):
        executed.append(len(goal_handle.request.grasps))
        goal_handle.succeed()
        return Pick.Result(success=True, reason="picked")

    server = ActionServer(node, Pick, "pick", execute)
    executor = MultiThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield executed
    server.destroy()
    executor.shutdown()
    node.destroy_node()
    context.try_shutdown()
    thread.join(timeout=5.0)


def _withhold_answer(monkeypatch, send: bool) -> None:
    """The next Pick goal's answer never reaches the client: the goal is sent (send=True) or not."""
    from rclpy.action import ActionClient
    from rclpy.task import Future

    real = ActionClient.send_goal_async

    def withhold(client, goal, **kwargs):
        monkeypatch.setattr(ActionClient, "send_goal_async", real)  # only the first
        if send:
            real(client, goal, **kwargs)
        return Future()

    monkeypatch.setattr(ActionClient, "send_goal_async", withhold)


@pytest.mark.parametrize("answered", [True, False], ids=["answered", "answer lost"])
def test_a_sent_goal_gets_its_result(pick_server, monkeypatch, answered):
    from flash_bringup import pick_demo

    monkeypatch.setattr(pick_demo, "GOAL_ANSWER_TIMEOUT_S", 1.0)
    client = pick_demo.PickClient()
    try:
        client.wait(client.pick_client.server_is_ready, 10.0, "pick server")
        if not answered:
            _withhold_answer(monkeypatch, send=True)
        result = client.run_goal(client.pick_client, client.Pick, client.Pick.Goal(), 20.0, "pick")
    finally:
        client.close()
    assert result.success and result.reason == "picked"
    assert pick_server == [0]  # executed once


def test_a_goal_the_server_never_got_is_an_error(pick_server, monkeypatch):
    from flash_bringup import pick_demo

    monkeypatch.setattr(pick_demo, "GOAL_ANSWER_TIMEOUT_S", 1.0)
    client = pick_demo.PickClient()
    try:
        client.wait(client.pick_client.server_is_ready, 10.0, "pick server")
        _withhold_answer(monkeypatch, send=False)
        with pytest.raises(pick_demo.DemoError, match="no answer to the goal, and the server does not know it"):
            client.run_goal(client.pick_client, client.Pick, client.Pick.Goal(), 20.0, "pick")
    finally:
        client.close()
    assert pick_server == []
