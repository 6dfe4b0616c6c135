"""Run one mode of the FLASH graph (config/graph.yaml) as processes, where `ros2 launch` is not installed.

    with Graph.start("sim", {"object": "mug"}) as graph:
        graph.wait_for_actions(["/generate_grasp", "/pick"])
        ...                                  # the nodes run; leaving the block shuts them down

Each node runs as `<python> -c <its console_scripts entry point>` (or the ament executable lib/<package>/<name>)
with `--ros-args -r __node:=... -r __ns:=... --params-file ... -p name:=value -r from:=to`, in its own process
group, with the ROS environment (ROS_DOMAIN_ID as set; ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST unless set).
Every output line is echoed prefixed with the node's name and written to <log_dir>/<node>.log. A node that
exits is reported with its exit code and last lines; the others keep running. Shutdown sends SIGINT to every
node's process group, SIGTERM to the groups still alive after `ShutdownTimeouts.sigint_s`, SIGKILL after
`sigterm_s` more, so it ends within `ShutdownTimeouts.total_s` with no process of any group left.
Nodes the graph marks optional (rviz2, robot_state_publisher) are skipped with a line where not installed or
where a file they read is missing; other packages' launch files (ros2_kortex) are listed as skipped: only
`ros2 launch` can run them. A runner killed with SIGKILL cannot stop its nodes: their pids are in its output.
"""

from __future__ import annotations

import collections
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import yaml

from flash_bringup.graph import (
    GraphDescription,
    MissingInput,
    NodeSpec,
    ResolvedGraph,
    load_graph,
    read_file_parameters,
)

TAIL_LINES = 20  # last output lines kept per node, shown when it dies


class BringupError(RuntimeError):
    """The graph cannot start (a required node is not installed) or did not come up in time."""


@dataclass(frozen=True)
class ShutdownTimeouts:
    """Seconds each shutdown step waits for the process groups still alive before the next, harder signal.

    SIGINT first: rclpy nodes end their goals and exit cleanly (the grasp server answers its waiting goals).
    """

    sigint_s: float = 8.0
    sigterm_s: float = 3.0
    sigkill_s: float = 2.0  # SIGKILL cannot be refused; this only waits for the kernel to reap

    @property
    def total_s(self) -> float:
        return self.sigint_s + self.sigterm_s + self.sigkill_s


def ros_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The nodes' environment: `base` (default os.environ) with localhost-only discovery unless set there.

    ROS_DOMAIN_ID passes through as it is; output unbuffered so lines reach the log as they are written.
    """
    env = dict(os.environ if base is None else base)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def find_executable(package: str, executable: str) -> list[str] | None:
    """The command that runs `executable` of `package` here, or None when it is not installed.

    A console_scripts entry point of the package's distribution runs under this interpreter by calling its
    function (`python -m module` would need an `if __name__ == "__main__"` in every node module); otherwise the
    ament layout's <prefix>/lib/<package>/<executable> (C++ nodes such as rviz2 on a ROS 2 install).
    """
    try:
        entry_points = importlib.metadata.distribution(package).entry_points
    except importlib.metadata.PackageNotFoundError:
        entry_points = ()
    for entry in entry_points:
        if entry.group == "console_scripts" and entry.name == executable:
            call = f"import sys; from {entry.module} import {entry.attr}; sys.exit({entry.attr}())"
            return [sys.executable, "-c", call]
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix

        path = Path(get_package_prefix(package)) / "lib" / package / executable
    except (ImportError, PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset
        return None
    return [str(path)] if os.access(path, os.X_OK) else None


def ros_arguments(spec: NodeSpec, extra_parameter_files: list[str] = ()) -> list[str]:
    """`--ros-args ...` for a node: name, namespace, parameter files, then each parameter and remapping.

    Values go as JSON, which ROS reads as YAML with the type kept (a quoted "" stays an empty string).
    """
    args = ["--ros-args", "-r", f"__node:={spec.name}"]
    if spec.namespace:
        args += ["-r", f"__ns:=/{spec.namespace.strip('/')}"]
    for path in (*spec.parameter_files, *extra_parameter_files):
        args += ["--params-file", path]
    for name, value in spec.parameters.items():
        args += ["-p", f"{name}:={json.dumps(value)}"]
    for source, target in spec.remappings:
        args += ["-r", f"{source}:={target}"]
    return args


def node_command(spec: NodeSpec, work_dir: Path) -> list[str] | None:
    """The full command line of a node, or None when its executable is not installed here.

    `file_parameters` (a parameter whose value is a file's text, e.g. robot_description) go through a parameter
    file written into `work_dir`: a URDF does not survive a command line. MissingInput when such a file is absent.
    """
    executable = find_executable(spec.package, spec.executable)
    if executable is None:
        return None
    extra_files = []
    if spec.file_parameters:
        path = work_dir / f"{spec.name}.file_parameters.yaml"
        path.write_text(yaml.safe_dump({"/**": {"ros__parameters": read_file_parameters(spec)}}))
        extra_files.append(str(path))
    return [*executable, *spec.arguments, *ros_arguments(spec, extra_files)]


class RunningNode:
    """One node's process (leader of its own process group), its log file and its last output lines."""

    def __init__(self, spec: NodeSpec, command: list[str], log_path: Path, env: dict[str, str], echo):
        self.spec = spec
        self.command = command
        self.log_path = log_path
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._echo = echo
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name=f"bringup-{spec.name}", daemon=True)
        self._reader.start()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        """Also the process group id: the node's children share it unless they start their own."""
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def tail(self) -> list[str]:
        return list(self._tail)

    def wait_output(self, timeout_s: float) -> None:
        """Wait until the node's output is read to its end (it has exited and closed its pipe)."""
        self._reader.join(timeout=timeout_s)

    def signal_group(self, sig: int) -> bool:
        """Send `sig` to the node's process group; False when no process of the group is left."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def group_alive(self) -> bool:
        self.process.poll()  # reap the leader, or the zombie keeps the group "alive"
        return self.signal_group(0)

    def _read(self) -> None:
        with open(self.log_path, "w", encoding="utf-8") as log:
            for raw in self.process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self._tail.append(line)
                log.write(line + "\n")
                log.flush()
                if self._echo is not None:
                    self._echo(f"[{self.name}] {line}")


class Graph:
    """A started mode of the graph: its running nodes, what it skipped, and a bounded clean shutdown."""

    def __init__(self, resolved: ResolvedGraph, log_dir: Path, echo: TextIO | None, env: dict[str, str],
                 timeouts: ShutdownTimeouts):
        self.resolved = resolved
        self.log_dir = log_dir
        self.timeouts = timeouts
        self.env = env
        self.nodes: dict[str, RunningNode] = {}
        self.skipped: list[str] = []  # one line per node or include not started, with the reason
        self.exited: dict[str, int] = {}  # node -> exit code, for nodes that ended before shutdown
        self._stream = echo
        self._print_lock = threading.Lock()
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._monitor: threading.Thread | None = None

    @classmethod
    def start(cls, mode: str, arguments: dict[str, str] | None = None, *,
              description: GraphDescription | None = None, log_dir: str | Path | None = None,
              echo: TextIO | bool = True, env: dict[str, str] | None = None,
              timeouts: ShutdownTimeouts | None = None) -> Graph:
        """Resolve `mode` of the graph (default: the installed config/graph.yaml) and start its nodes.

        BringupError, before anything starts, when a node that is not optional is not installed. `echo`: where
        the prefixed node output and the runner's own lines go (True: stdout, False: logs only). `log_dir` default:
        $ROS_LOG_DIR or ~/.ros/log, then flash_bringup_<mode>_<time>.
        """
        resolved = (description or load_graph()).resolve(mode, arguments)
        if log_dir is None:
            root = Path(os.environ.get("ROS_LOG_DIR") or Path.home() / ".ros" / "log")
            log_dir = root / f"flash_bringup_{mode}_{datetime.now():%Y%m%d-%H%M%S-%f}"
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        stream = sys.stdout if echo is True else echo or None
        graph = cls(resolved, log_dir, stream, {**ros_environment(env), **resolved.environment},
                    timeouts or ShutdownTimeouts())
        try:
            graph._launch()
        except BaseException:
            graph.shutdown()
            raise
        return graph

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def say(self, line: str) -> None:
        """A line of the runner's own, prefixed [bringup]."""
        self._echo(f"[bringup] {line}")

    def node(self, name: str) -> RunningNode:
        if name not in self.nodes:
            raise KeyError(f"no running node {name!r}; running: {sorted(self.nodes)}, skipped: {self.skipped}")
        return self.nodes[name]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to one node's process group (the kill-node safety test); the others keep running."""
        self.node(name).signal_group(sig)

    def wait_for_actions(self, names: list[str], timeout_s: float = 60.0) -> None:
        """Block until every action server in `names` (fully qualified) is discovered; BringupError on timeout.

        Looks for the action's status publisher, which only a server has (a client, such as the pick node's
        for the trajectory servers, would already make the action name visible).
        """
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        context = rclpy.Context()
        rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
        try:
            probe = rclpy.create_node("flash_bringup_probe", context=context, start_parameter_services=False)
            deadline = time.monotonic() + timeout_s
            missing = list(names)
            while missing and time.monotonic() < deadline and not self._stopping.is_set():
                missing = [n for n in names if probe.count_publishers(f"{n}/_action/status") == 0]
                if missing:
                    time.sleep(0.1)
            probe.destroy_node()
        finally:
            context.try_shutdown()
        if missing:
            exited = f"; nodes that exited: {self.exited} (logs in {self.log_dir})" if self.exited else ""
            raise BringupError(f"action servers {missing} not discovered within {timeout_s:.0f} s{exited}")

    def wait(self) -> None:
        """Block until every node has exited or shutdown() is called (the command's main loop)."""
        with self._changed:
            while not self._stopping.is_set() and any(n.returncode is None for n in self.nodes.values()):
                self._changed.wait(0.5)

    def shutdown(self) -> dict[str, int | None]:
        """Stop every node within `timeouts.total_s`: SIGINT, then SIGTERM, then SIGKILL to each process group.

        Returns each node's exit code (None: its leader could not be reaped, which only happens when the
        kernel does not let SIGKILL through). Safe to call twice.
        """
        first = not self._stopping.is_set()
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        steps = ((signal.SIGINT, self.timeouts.sigint_s), (signal.SIGTERM, self.timeouts.sigterm_s),
                 (signal.SIGKILL, self.timeouts.sigkill_s))
        for sig, wait_s in steps:
            alive = [node for node in self.nodes.values() if node.group_alive()]
            if not alive:
                break
            if first:
                self.say(f"{signal.Signals(sig).name} to {', '.join(n.name for n in alive)}")
            for node in alive:
                node.signal_group(sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and any(node.group_alive() for node in alive):
                time.sleep(0.05)
        if self._monitor is not None:
            self._monitor.join(timeout=1.0)
        return {name: node.returncode for name, node in self.nodes.items()}

    # --- internals ---
    def _echo(self, line: str) -> None:
        if self._stream is None:
            return
        with self._print_lock:
            try:
                print(line, file=self._stream, flush=True)
            except (OSError, ValueError):  # a closed terminal or pipe (`| head`): keep logging, stop echoing
                self._stream = None

    def _launch(self) -> None:
        resolved = self.resolved
        for include in resolved.includes:
            arguments = " ".join(f"{k}:={v}" for k, v in include.arguments.items())
            self.skipped.append(f"{include.package}/{include.file}: another package's launch file runs only "
                                f"under ros2 launch (ros2 launch {include.package} {include.file} {arguments})")
        commands = {}
        for spec in resolved.nodes:  # every command first: nothing starts when a required node is missing
            try:
                command = node_command(spec, self.log_dir)
            except MissingInput as exc:
                if not spec.optional:
                    raise
                self.skipped.append(f"{spec.name}: {exc}")
                continue
            if command is not None:
                commands[spec.name] = (spec, command)
            elif spec.optional:
                self.skipped.append(f"{spec.name}: {spec.package} {spec.executable} is not installed here")
            else:
                raise BringupError(f"node {spec.name}: no executable {spec.executable!r} of package "
                                   f"{spec.package!r} here (not installed, or its entry point is new: rerun "
                                   "./scripts/setup.sh to reinstall the FLASH packages)")
        self.say(f"{resolved.mode}: {' '.join(f'{k}:={v}' for k, v in resolved.arguments.items())}; "
                 f"logs in {self.log_dir}")
        for line in self.skipped:
            self.say(f"skipping {line}")
        for name, (spec, command) in commands.items():
            node = RunningNode(spec, command, self.log_dir / f"{name}.log", self.env, self._echo)
            self.nodes[name] = node
            self.say(f"started {name} (pid {node.pid})")
        self._monitor = threading.Thread(target=self._watch, name="bringup-monitor", daemon=True)
        self._monitor.start()

    def _watch(self) -> None:
        """Report each node that exits before shutdown, with its exit code and last lines."""
        while not self._stopping.is_set():
            for name, node in self.nodes.items():
                code = node.returncode
                if code is None or name in self.exited:
                    continue
                node.wait_output(timeout_s=1.0)  # its last lines
                if self._stopping.is_set():
                    return
                self.exited[name] = code
                how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
                running = [n for n, other in self.nodes.items() if other.returncode is None]
                self.say(f"node {name} died ({how}); last lines ({node.log_path}):")
                for line in node.tail()[-10:]:
                    self.say(f"    {line}")
                self.say(f"still running: {', '.join(running) or 'none'}")
                with self._changed:
                    self._changed.notify_all()
            self._stopping.wait(0.2)
