"""`flash bringup` (flash_bringup.runner) running real nodes: a graph of flash_ros's static_frames and
flash_motion's fake trajectory controller (cheap nodes that exist everywhere) plus an rviz2 that does not.

Checked: optional nodes that are not installed, or whose input file is missing, are skipped with a line; action
servers are discovered; a node that dies is reported with its exit code and last lines while the others keep
serving; SIGINT to the command stops every node within ShutdownTimeouts.total_s and leaves no process of any
node's group, also when nothing reads its output any more; a node that ignores SIGINT and SIGTERM (stopped) is
killed by the last step.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from flash_bringup.graph import load_graph
from flash_bringup.runner import Graph, ShutdownTimeouts

ACTION = "/test_arm/follow_joint_trajectory"


@pytest.fixture
def graph_file(tmp_path):
    """A graph whose mode is called sim (so `flash bringup --graph FILE sim` parses it) with cheap real nodes."""
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({"modes": {"sim": {
        "arguments": {"time_scale": {"default": "0", "type": "float"}},
        "nodes": [
            {"name": "frames", "package": "flash_ros", "executable": "static_frames",
             "parameters": {"frames": ["camera_link"], "camera_link.parent": "base_link",
                            "camera_link.xyz_m": [0.1, 0.0, 0.5], "camera_link.quat_xyzw": [0.0, 0.0, 0.0, 1.0]}},
            {"name": "controller", "package": "flash_motion", "executable": "fake_trajectory_controller",
             "namespace": "test", "parameters": {"action_names": [ACTION], "time_scale": "$(time_scale)"}},
            {"name": "viewer", "package": "rviz2", "executable": "rviz2", "optional": True},
            {"name": "described", "package": "flash_ros", "executable": "static_frames", "optional": True,
             "file_parameters": {"robot_description": str(tmp_path / "missing.urdf")}},
        ]}}}))
    return path


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_dead_node_is_reported_and_the_others_keep_serving(graph_file, tmp_path, ros_env):
    out = io.StringIO()
    with Graph.start("sim", description=load_graph(graph_file), log_dir=tmp_path / "logs", echo=out,
                     env=ros_env) as graph:
        assert graph.skipped == ["viewer: rviz2 rviz2 is not installed here",
                                 f"described: node described: parameter robot_description reads "
                                 f"{tmp_path / 'missing.urdf'}: No such file or directory"]
        assert set(graph.nodes) == {"frames", "controller"}
        graph.wait_for_actions([ACTION], timeout_s=60)
        frames = graph.node("frames")
        deadline = time.monotonic() + 30
        while "ready" not in frames.tail() and time.monotonic() < deadline:
            time.sleep(0.1)
        graph.kill("frames")
        deadline = time.monotonic() + 10
        while "frames" not in graph.exited and time.monotonic() < deadline:
            time.sleep(0.1)
        assert graph.exited == {"frames": -signal.SIGKILL}
        assert graph.node("controller").returncode is None
        graph.wait_for_actions([ACTION], timeout_s=30)  # still served
        log = out.getvalue()
        assert "[bringup] node frames died (killed by SIGKILL)" in log
        assert "[bringup]     ready" in log  # its last lines
        assert "[bringup] still running: controller" in log
        assert "[frames] ready" in log and (tmp_path / "logs" / "frames.log").read_text().splitlines()[-1] == "ready"
    assert graph.node("controller").returncode == 0  # stopped by SIGINT, cleanly
    assert all(_group_gone(node.pid) for node in graph.nodes.values())


def test_a_node_deaf_to_sigint_and_sigterm_is_killed_within_the_bound(graph_file, tmp_path, ros_env):
    timeouts = ShutdownTimeouts(sigint_s=0.5, sigterm_s=0.5, sigkill_s=2.0)
    graph = Graph.start("sim", description=load_graph(graph_file), log_dir=tmp_path, echo=False, env=ros_env,
                        timeouts=timeouts)
    try:
        graph.wait_for_actions([ACTION], timeout_s=60)
        graph.kill("controller", signal.SIGSTOP)  # a stopped process acts on no signal but SIGKILL
    finally:
        started = time.monotonic()
        codes = graph.shutdown()
    assert time.monotonic() - started < timeouts.total_s + 1.0
    assert codes["controller"] == -signal.SIGKILL
    assert all(_group_gone(node.pid) for node in graph.nodes.values())


def _start_command(graph_file, log_dir, env) -> tuple[subprocess.Popen, list[str], dict[str, int]]:
    """`flash bringup --graph FILE sim`, read until both nodes are ready: (process, lines so far, node pids)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flash_core.cli", "bringup", "--graph", str(graph_file), "--log-dir", str(log_dir),
         "sim"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines, pids = [], {}
    deadline = time.monotonic() + 90
    while not {"[frames] ready", "[controller] ready"} <= set(lines) and time.monotonic() < deadline:
        line = process.stdout.readline().rstrip("\n")
        if not line and process.poll() is not None:
            break
        lines.append(line)
        started = re.fullmatch(r"\[bringup\] started (\w+) \(pid (\d+)\)", line)
        if started:
            pids[started.group(1)] = int(started.group(2))
    return process, lines, pids


@pytest.mark.parametrize("reader", ["reading", "gone"])
def test_sigint_stops_the_command_and_every_node_within_the_bound(graph_file, tmp_path, ros_env, reader):
    """reader gone: the command's output pipe is closed (`flash bringup sim | head`); it must still stop all."""
    process, lines, pids = _start_command(graph_file, tmp_path, ros_env)
    try:
        assert {"[frames] ready", "[controller] ready"} <= set(lines), "\n".join(lines)
        assert set(pids) == {"frames", "controller"}
        assert "[bringup] skipping viewer: rviz2 rviz2 is not installed here" in lines
        if reader == "gone":
            process.stdout.close()
        process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        if reader == "gone":
            process.wait(timeout=ShutdownTimeouts().total_s + 5)
            output = ""
        else:
            output, _ = process.communicate(timeout=ShutdownTimeouts().total_s + 5)
        stop_s = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    leftover = [pid for pid in pids.values() if not _group_gone(pid)]
    for pid in leftover:  # a failing run must not leak them into the next tests
        os.killpg(pid, signal.SIGKILL)
    assert not leftover
    assert stop_s < ShutdownTimeouts().total_s + 1.0  # + the interpreter's own exit
    if reader == "reading":
        assert process.returncode == 0, output
        assert "[bringup] stopped: frames 0, controller 0" in output
    assert (tmp_path / "controller.log").read_text().splitlines()[-1] != ""  # logged either way
