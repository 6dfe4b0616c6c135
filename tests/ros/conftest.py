"""Fixtures for tests that start ROS 2 processes.

Each test session gets its own DDS domain and keeps discovery on the loopback interface, so parallel
runs on one machine never see each other; every process a test starts is killed when it ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run scripts/setup.sh)")

SERVICES_PROFILE = Path(__file__).resolve().parents[2] / "config" / "fastdds_services.xml"


def _domain_id() -> int:
    # 1..200: valid for Fast DDS on every platform, spread by pid so concurrent runs differ.
    return 1 + os.getpid() % 200


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Environment for ROS processes of this test session (also applied to this process)."""
    env = {
        "ROS_DOMAIN_ID": str(_domain_id()),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        # servers wait for a just-started client's reply reader, as the graph's nodes do (config/graph.yaml)
        "FASTDDS_DEFAULT_PROFILES_FILE": str(SERVICES_PROFILE),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    return {**os.environ, **env}


@pytest.fixture
def ros_context(ros_env) -> Iterator[object]:
    """An rclpy context for the test process itself, shut down afterwards."""
    yield from _context()


@pytest.fixture(scope="module")
def module_ros_context(ros_env) -> Iterator[object]:
    """Like ros_context, shared by the tests of one module (for servers that are slow to start)."""
    yield from _context()


def _context() -> Iterator[object]:
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


class ProcessGroup:
    """Starts Python modules or scripts, each in its own process group, and kills them all on close()."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, *args],
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + 5.0
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def spawn(ros_env) -> Iterator[ProcessGroup]:
    """Start processes for one test; all are killed at teardown."""
    group = ProcessGroup(ros_env)
    yield group
    group.close()


@pytest.fixture(scope="module")
def module_spawn(ros_env) -> Iterator[ProcessGroup]:
    """Start processes shared by the tests of one module; all are killed after the module."""
    group = ProcessGroup(ros_env)
    yield group
    group.close()


def spin_until(context, node, predicate, timeout_s: float) -> bool:
    """Spin `node` until predicate() is true or the timeout passes; returns predicate(). The garbage collector
    is paused meanwhile (flash_ros.spinning: a collection inside the executor's wait deadlocked one CI run)."""
    from rclpy.executors import SingleThreadedExecutor

    from flash_ros.spinning import collector_paused

    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        with collector_paused():
            deadline = time.monotonic() + timeout_s
            while not predicate() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            return predicate()
    finally:
        executor.remove_node(node)
        executor.shutdown()
