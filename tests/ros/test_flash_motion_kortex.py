"""The pick node with `executor:=kortex_api`: arm segments go to the kortex worker (run against the logging
kortex_api double), the hand segment to its FollowJointTrajectory server in another process; without
kortex_api the node fails at start naming the interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.parameter import Parameter

from tests.ros.test_flash_motion import (
    ARM_ACTION,
    HAND_ACTION,
    HOME,
    SQUEEZED_Q,
    _goals,
    _grasp,
    _run,
    _start_controller,
)
from tests.ros.test_kortex_executor import use_fake_kortex

pytestmark = pytest.mark.ros


def test_arm_segments_go_through_kortex_api_and_the_hand_through_its_driver(spawn, ros_context, monkeypatch,
                                                                           tmp_path):
    kortex_calls = use_fake_kortex(monkeypatch, tmp_path)
    lines = _start_controller(spawn)
    status = _run(ros_context, _grasp(), parameters=[Parameter("executor", value="kortex_api"),
                                                     Parameter("kortex.ip", value="10.1.2.3")])
    assert status and status[-1] == "succeeded: pick executed", status
    assert status[:-1] == ["planning", "to_pregrasp", "approach", "close_hand", "lift", "retreat"]
    goals = _goals(lines)
    assert [g["action"] for g in goals] == [HAND_ACTION]  # nothing reached the arm's FollowJointTrajectory
    assert ARM_ACTION not in {g["action"] for g in goals}
    np.testing.assert_allclose(goals[0]["final"], SQUEEZED_Q, atol=1e-9)

    calls = kortex_calls()
    assert calls[0] == {"call": "TCPTransport.connect", "ip": "10.1.2.3", "port": 10000}
    sent = [c for c in calls if c["call"] == "BaseClient.ExecuteWaypointTrajectory"]
    assert len(sent) == 4
    # The retreat ends where the pick started: HOME, in Kortex degrees.
    np.testing.assert_allclose(sent[-1]["waypoints"][-1]["angles"], np.mod(np.degrees(HOME), 360.0), atol=1e-6)
    assert all(w["duration"] > 0 for c in sent for w in c["waypoints"])
    assert calls[-1]["call"] == "TCPTransport.disconnect"  # the node closed the session when destroyed


def test_cancel_in_kortex_mode_stops_the_arm(spawn, ros_context, monkeypatch, tmp_path):
    kortex_calls = use_fake_kortex(monkeypatch, tmp_path)
    monkeypatch.setenv("FAKE_KORTEX_TIME_SCALE", "1.0")  # the double "moves" in real time, so there is a mid-segment
    _start_controller(spawn)
    status = _run(ros_context, _grasp(), cancel_at="to_pregrasp", timeout_s=60.0,
                  parameters=[Parameter("executor", value="kortex_api")])
    assert status[-1].startswith("failed: canceled during to_pregrasp"), status
    assert "approach" not in status  # nothing after the cancelled segment was sent
    calls = [c["call"] for c in kortex_calls()]
    assert calls.count("BaseClient.ExecuteWaypointTrajectory") == 1
    assert "BaseClient.StopAction" in calls[calls.index("BaseClient.ExecuteWaypointTrajectory"):]


def test_kortex_executor_without_kortex_api_fails_at_start(ros_context, monkeypatch):
    from flash_motion.kortex_executor import KortexError
    from flash_motion.pick_node import PickNode

    monkeypatch.delenv("PYTHONPATH", raising=False)
    with pytest.raises(KortexError, match="kortex_api is not installed in"):
        PickNode(context=ros_context, parameter_overrides=[Parameter("executor", value="kortex_api")])
    with pytest.raises(ValueError, match="executor must be one of"):
        PickNode(context=ros_context, parameter_overrides=[Parameter("executor", value="moveit_servo")])
