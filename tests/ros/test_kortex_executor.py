"""flash_motion's kortex_api backend without Kinova's wheel: the JointTrajectory -> waypoint conversion against
numpy, and the worker process over its JSON-lines protocol, run unmodified against a test double of
kortex_api (tests/ros/fake_kortex_api: the real module layout, every call logged): start-up, the clear error
where kortex_api is missing, execute / abort / reject / stop, and a worker crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from flash_core.planning import ARM_JOINT_NAMES, JointTrajectory
from flash_motion.kortex_executor import KortexConfig, KortexError, KortexExecutor, trajectory_to_waypoints

FAKE_KORTEX = Path(__file__).with_name("fake_kortex_api")


def _trajectory(positions_rad, times_s, names=ARM_JOINT_NAMES) -> JointTrajectory:
    positions = np.asarray(positions_rad, dtype=float)
    return JointTrajectory(tuple(names), positions, np.zeros_like(positions), np.zeros_like(positions),
                           np.asarray(times_s, dtype=float))


def use_fake_kortex(monkeypatch, tmp_path):
    """Make the kortex_api double importable in workers started from now on (PYTHONPATH), its calls logged;
    returns a reader of the call log."""
    log = tmp_path / "kortex_calls.jsonl"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_KORTEX), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("FAKE_KORTEX_LOG", str(log))
    monkeypatch.setenv("FAKE_KORTEX_MODE", "end")

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


@pytest.fixture
def fake_kortex(monkeypatch, tmp_path):
    return use_fake_kortex(monkeypatch, tmp_path)


@pytest.fixture
def executor():
    made: list[KortexExecutor] = []

    def make(**overrides) -> KortexExecutor:
        made.append(KortexExecutor(KortexConfig(reply_timeout_s=30.0, **overrides)))
        return made[-1]

    yield make
    for e in made:
        e.close()


def test_waypoints_are_degrees_in_0_360_in_joint_order_with_step_durations():
    rng = np.random.default_rng(0)
    positions = rng.uniform(-6.0, 6.0, size=(5, 7))
    times = np.array([0.0, 0.1, 0.25, 0.5, 1.5])
    order = [3, 0, 6, 1, 5, 2, 4]  # the trajectory names its joints in another order
    shuffled = _trajectory(positions[:, order], times, [ARM_JOINT_NAMES[i] for i in order])
    waypoints = trajectory_to_waypoints(shuffled)
    assert len(waypoints) == 4  # the start point is where the arm already is
    for k, waypoint in enumerate(waypoints, start=1):
        angles = np.array(waypoint["angles_deg"])
        assert np.all((angles >= 0.0) & (angles < 360.0))
        # Same angle as the plan: the wrapped degrees differ from the radians by whole turns only.
        turns = (np.degrees(positions[k]) - angles) / 360.0
        np.testing.assert_allclose(turns, np.round(turns), atol=1e-9)
        assert waypoint["duration_s"] == pytest.approx(times[k] - times[k - 1])
    assert trajectory_to_waypoints(_trajectory([[0.0] * 7, [-np.pi / 2] * 7], [0, 1]))[0]["angles_deg"] == [270.0] * 7


def test_waypoint_conversion_refuses_other_joints_and_single_points():
    with pytest.raises(ValueError, match="joint_1"):
        trajectory_to_waypoints(_trajectory(np.zeros((2, 16)), [0, 1], [str(i) for i in range(16)]))
    with pytest.raises(ValueError, match="single point"):
        trajectory_to_waypoints(_trajectory(np.zeros((1, 7)), [0]))


def test_missing_kortex_api_is_named_with_the_interpreter(executor, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    with pytest.raises(KortexError, match="kortex_api is not installed in .*python"):
        executor().start()


def test_a_missing_interpreter_is_named(executor, tmp_path):
    with pytest.raises(KortexError, match="cannot start the kortex worker with .*nope"):
        executor(python=str(tmp_path / "nope" / "python")).start()


def test_execute_goes_through_session_validation_and_action_end(fake_kortex, executor):
    arm = executor(ip="10.0.0.7", port=10123, username="operator", password="secret")
    arm.start()
    trajectory = _trajectory(np.linspace([0.1] * 7, [0.5, -0.2, 3.0, -2.0, 0.3, 1.0, 1.5], 6), np.linspace(0, 1, 6))
    arm.execute(trajectory)
    assert arm.status() == {"executing": None, "joint_angles_deg": [10.0 * i for i in range(7)]}
    arm.close()
    calls = fake_kortex()
    assert [c["call"] for c in calls] == [
        "TCPTransport.connect", "SessionManager.CreateSession", "BaseClient.OnNotificationActionTopic",
        "BaseClient.ExecuteWaypointTrajectory", "BaseClient.Unsubscribe", "SessionManager.CloseSession",
        "TCPTransport.disconnect"]
    assert calls[0] == {"call": "TCPTransport.connect", "ip": "10.0.0.7", "port": 10123}
    assert calls[1]["username"] == "operator" and calls[1]["password"] == "secret"
    sent = calls[3]
    assert sent["use_optimal_blending"] is False
    expected = trajectory_to_waypoints(trajectory)
    assert [w["angles"] for w in sent["waypoints"]] == [w["angles_deg"] for w in expected]
    assert [w["duration"] for w in sent["waypoints"]] == [w["duration_s"] for w in expected]


@pytest.mark.parametrize("mode, words", [("abort", "ACTION_ABORT"), ("reject", "rejected the trajectory")])
def test_abort_and_rejection_are_errors_and_the_worker_keeps_serving(fake_kortex, executor, monkeypatch, mode, words):
    monkeypatch.setenv("FAKE_KORTEX_MODE", mode)
    arm = executor()
    arm.start()
    with pytest.raises(KortexError, match=words):
        arm.execute(_trajectory(np.zeros((2, 7)), [0, 1]))
    assert arm.status()["executing"] is None


def test_stop_aborts_a_running_trajectory(fake_kortex, executor, monkeypatch):
    monkeypatch.setenv("FAKE_KORTEX_TIME_SCALE", "1.0")
    arm = executor()
    arm.start()
    outcome: list[Exception | None] = []

    def run() -> None:
        try:
            arm.execute(_trajectory(np.zeros((2, 7)), [0, 60.0]))  # a minute of motion, stopped early
            outcome.append(None)
        except KortexError as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    for _ in range(200):
        if arm.status()["executing"] is not None:
            break
        threading.Event().wait(0.05)
    arm.stop()
    runner.join(timeout=30.0)
    assert outcome and isinstance(outcome[0], KortexError) and "ACTION_ABORT" in str(outcome[0])
    assert "BaseClient.StopAction" in [c["call"] for c in fake_kortex()]


def test_an_overdue_trajectory_is_stopped(fake_kortex, executor, monkeypatch):
    monkeypatch.setenv("FAKE_KORTEX_TIME_SCALE", "10.0")  # the "arm" takes 10x the planned time
    arm = executor(finish_margin_s=0.5)
    arm.start()
    with pytest.raises(KortexError, match="within 1.5 s while waiting for the end of the trajectory"):
        arm.execute(_trajectory(np.zeros((2, 7)), [0, 1.0]))
    assert fake_kortex()[-1]["call"] == "BaseClient.StopAction"


def test_closing_during_a_trajectory_stops_the_arm(fake_kortex, executor, monkeypatch):
    monkeypatch.setenv("FAKE_KORTEX_TIME_SCALE", "1.0")
    arm = executor()
    arm.start()
    arm.request("execute", waypoints=trajectory_to_waypoints(_trajectory(np.zeros((2, 7)), [0, 60.0])))
    arm.close()
    calls = [c["call"] for c in fake_kortex()]
    assert calls[-4:] == ["BaseClient.StopAction", "BaseClient.Unsubscribe", "SessionManager.CloseSession",
                          "TCPTransport.disconnect"]


def test_a_crashing_worker_is_a_clear_error(fake_kortex, executor, monkeypatch):
    monkeypatch.setenv("FAKE_KORTEX_MODE", "crash")
    arm = executor()
    arm.start()
    with pytest.raises(KortexError, match="exited with code 3.*simulated crash"):
        arm.execute(_trajectory(np.zeros((2, 7)), [0, 1]))
    with pytest.raises(KortexError, match="exited with code 3"):
        arm.status()


def test_worker_runs_with_only_the_standard_library_and_kortex_api(fake_kortex):
    """The worker file under `python -I -S` (no site-packages, so no FLASH, numpy or ROS) plus kortex_api."""
    worker = str(files("flash_motion") / "kortex_worker.py")
    code = (f"import runpy, sys; sys.path.insert(0, {str(FAKE_KORTEX)!r}); "
            f"runpy.run_path({worker!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], input='{"id": 1, "op": "status"}\n', text=True,
                          capture_output=True, timeout=60)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["event"] == "hello", done.stderr
    assert lines[1] == {"id": 1, "ok": False, "error": "WorkerError: not connected: send a 'connect' request first"}
    assert done.returncode == 0
