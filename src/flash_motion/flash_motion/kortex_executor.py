"""Arm trajectories through Kinova's kortex_api, the alternative to FollowJointTrajectory (ros2_kortex).

The API runs in a worker process (`kortex_worker.py`, possibly under another interpreter: Kinova's wheel pins an
old protobuf), started and spoken to here over the JSON-lines protocol documented in that file. No ROS here:

    executor = KortexExecutor(KortexConfig(python="/opt/kortex/bin/python", ip="192.168.1.10"))
    executor.start()                      # worker up, session open; KortexError with the reason otherwise
    executor.execute(arm_trajectory)      # blocks until ACTION_END; KortexError on abort, crash or timeout
    executor.close()

A JointTrajectory becomes Kortex angular waypoints (`trajectory_to_waypoints`): degrees wrapped to [0, 360) as
Kortex reports its joints, each waypoint with the time since the previous one, the start point (where the arm
already is) dropped.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import as_file, files

import numpy as np

from flash_core.planning import ARM_JOINT_NAMES, JointTrajectory


class KortexError(RuntimeError):
    """The worker could not start, a request failed, the arm aborted, or the worker died."""


@dataclass(frozen=True)
class KortexConfig:
    python: str = sys.executable  # interpreter with kortex_api installed
    ip: str = "192.168.1.10"  # Kinova's factory address
    port: int = 10000  # TCP port of the Kortex API
    username: str = "admin"
    password: str = "admin"
    session_inactivity_timeout_ms: int = 60000
    connection_inactivity_timeout_ms: int = 2000
    reply_timeout_s: float = 10.0  # start-up, connect and every request's reply
    finish_margin_s: float = 10.0  # how long past its planned duration a trajectory may take to end
    use_optimal_blending: bool = False


def trajectory_to_waypoints(trajectory: JointTrajectory) -> list[dict]:
    """An arm JointTrajectory (any joint order; the 7 Gen3 joints) -> angular waypoints in joint_1..7 order:
    [{"angles_deg": [7 floats in [0, 360)], "duration_s": time since the previous point}, ...]."""
    names = list(trajectory.joint_names)
    missing = [n for n in ARM_JOINT_NAMES if n not in names]
    if missing or len(names) != len(ARM_JOINT_NAMES):
        raise ValueError(f"kortex_api executes the 7 Gen3 arm joints {list(ARM_JOINT_NAMES)}; got {names}")
    # JointTrajectory already guarantees finite values and strictly increasing times from 0.
    positions_rad = trajectory.positions[:, [names.index(n) for n in ARM_JOINT_NAMES]]
    times_s = trajectory.times_s
    if len(times_s) < 2:
        raise ValueError("the trajectory has a single point: nothing to execute")
    angles_deg = np.mod(np.degrees(positions_rad), 360.0)
    angles_deg[angles_deg >= 360.0] = 0.0  # mod of a tiny negative rounds up to exactly 360
    durations_s = np.diff(times_s)
    return [{"angles_deg": angles_deg[k].tolist(), "duration_s": float(durations_s[k - 1])}
            for k in range(1, len(times_s))]


class KortexExecutor:
    def __init__(self, config: KortexConfig | None = None):
        self.config = config or KortexConfig()
        self._proc: subprocess.Popen | None = None
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._replies: dict[int, dict] = {}
        self._finished: dict[int, dict] = {}
        self._greeting: dict | None = None
        self._exit: str | None = None  # why the worker is gone, once it is
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)

    # --- process ---
    def start(self) -> None:
        """Start the worker and open the session; KortexError naming the reason otherwise."""
        with as_file(files("flash_motion") / "kortex_worker.py") as worker:
            try:
                self._proc = subprocess.Popen([self.config.python, str(worker)], stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
            except OSError as exc:
                raise KortexError(f"cannot start the kortex worker with {self.config.python!r}: {exc}") from exc
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        greeting = self._wait(lambda: self._greeting, "the worker's greeting")
        if greeting.get("event") == "fatal":
            self.close()
            raise KortexError(greeting["error"])
        c = self.config
        self.request("connect", ip=c.ip, port=c.port, username=c.username, password=c.password,
                     session_inactivity_timeout_ms=c.session_inactivity_timeout_ms,
                     connection_inactivity_timeout_ms=c.connection_inactivity_timeout_ms)

    def close(self) -> None:
        """Ask the worker to close the session and exit; kill it if it does not."""
        if self._proc is None:
            return
        if self._proc.poll() is None and self._exit is None:
            try:
                self.request("shutdown")
            except KortexError:
                pass  # gone already: nothing to close
        try:
            self._proc.wait(timeout=self.config.reply_timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def _read_stdout(self) -> None:
        proc = self._proc
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                self._stderr_tail.append(f"(stdout, not protocol) {line.rstrip()}")
                continue
            with self._changed:
                if message.get("event") in ("hello", "fatal"):
                    self._greeting = message
                elif message.get("event") == "done":
                    self._finished[message["id"]] = message
                else:
                    self._replies[message.get("id")] = message
                self._changed.notify_all()
        code = proc.wait()
        with self._changed:
            tail = " | ".join(self._stderr_tail) or "nothing on stderr"
            self._exit = f"the kortex worker ({self.config.python}) exited with code {code}; last output: {tail}"
            self._changed.notify_all()

    def _read_stderr(self) -> None:
        for line in self._proc.stderr:
            self._stderr_tail.append(line.rstrip())

    def _wait(self, take, what: str, timeout_s: float | None = None) -> dict:
        """Block until take() returns a message (take may consume it: it is called until it does);
        KortexError if the worker dies or the time runs out first."""
        timeout_s = self.config.reply_timeout_s if timeout_s is None else timeout_s
        taken: list[dict] = []

        def arrived() -> bool:
            if not taken and (message := take()) is not None:
                taken.append(message)
            return bool(taken) or self._exit is not None

        with self._changed:
            if not self._changed.wait_for(arrived, timeout_s):
                raise KortexError(f"no answer from the kortex worker within {timeout_s:.1f} s while waiting for {what}")
            if not taken:
                raise KortexError(f"{self._exit} (while waiting for {what})")
            return taken[0]

    # --- requests ---
    def request(self, op: str, **fields) -> dict:
        """Send one request and return its successful reply; KortexError with the worker's error otherwise."""
        if self._proc is None:
            raise KortexError("the kortex worker is not running: call start() first")
        if self._exit is not None:
            raise KortexError(f"cannot send '{op}': {self._exit}")
        request_id = next(self._ids)
        try:
            self._proc.stdin.write(json.dumps({"id": request_id, "op": op, **fields}) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:  # ValueError: the pipe is closed
            with self._changed:  # the reader thread has the exit code and stderr a moment later
                self._changed.wait_for(lambda: self._exit, timeout=1.0)
                reason = self._exit or str(exc)
            raise KortexError(f"cannot send '{op}' to the kortex worker: {reason}") from exc
        reply = self._wait(lambda: self._replies.pop(request_id, None), f"the reply to '{op}'")
        if not reply.get("ok"):
            raise KortexError(f"kortex '{op}' failed: {reply.get('error')}")
        return reply

    def execute(self, trajectory: JointTrajectory, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Run an arm trajectory to its end (ACTION_END); KortexError on abort, worker death or timeout.
        should_stop: asked once the arm has the trajectory; True stops it at once (a stop requested while the
        request was on its way reached a worker with nothing to stop yet)."""
        waypoints = trajectory_to_waypoints(trajectory)
        reply = self.request("execute", waypoints=waypoints, use_optimal_blending=self.config.use_optimal_blending)
        request_id = reply["id"]
        if should_stop():
            self.stop()
        duration_s = sum(w["duration_s"] for w in waypoints)
        try:
            done = self._wait(lambda: self._finished.pop(request_id, None), "the end of the trajectory",
                              timeout_s=duration_s + self.config.finish_margin_s)
        except KortexError:
            if self._exit is None:  # overdue, the worker alive: the arm must not go on moving unwatched
                with contextlib.suppress(KortexError):
                    self.stop()
            raise
        if not done.get("ok"):
            raise KortexError(f"the arm did not finish the trajectory: {done.get('error')}")

    def stop(self) -> None:
        self.request("stop")

    def status(self) -> dict:
        """{"executing": request id or None, "joint_angles_deg": [...]}"""
        reply = self.request("status")
        return {"executing": reply["executing"], "joint_angles_deg": reply["joint_angles_deg"]}
