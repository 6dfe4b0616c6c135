"""`flash bringup sim|real|mock [--name value ...]`: run a mode of the FLASH graph without `ros2 launch`.

    flash bringup sim                                  # the graph against flash_sim's MuJoCo simulator
    flash bringup sim --object mug --rviz true         # launch arguments as --name value
    flash bringup sim --prompt "grasp the mug by the handle"   # + the end-to-end pick (flash_bringup.pick_demo)
    flash bringup real --robot-ip 192.168.1.10 --hand-port /dev/ttyUSB0

The launch arguments are the graph's (config/graph.yaml), the same as `ros2 launch flash_bringup
<mode>.launch.py name:=value`; `flash bringup MODE --help` lists them. Ctrl-C (or SIGTERM) stops every node
within the runner's bounded shutdown (flash_bringup.runner.ShutdownTimeouts).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from pathlib import Path

from flash_bringup.graph import GraphDescription, GraphError, load_graph
from flash_bringup.runner import BringupError, Graph

PICK_DEMO = "flash_bringup.pick_demo"  # the end-to-end pick client: run(graph, args) -> exit code


def _option(argument: str) -> str:
    return "--" + argument.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--graph", default=None, help="a graph file instead of the installed config/graph.yaml")
    parser.add_argument("--log-dir", default=None, help="per-node logs (default: $ROS_LOG_DIR or ~/.ros/log)")
    modes = parser.add_subparsers(dest="mode", required=True, metavar="MODE")
    try:
        graph = load_graph()
    except GraphError as exc:  # the command still answers --help; running says why
        parser.set_defaults(_graph_error=str(exc))
        return
    for name, mode in graph.modes.items():
        sub = modes.add_parser(name, help=mode.description)
        _add_graph_arguments(sub, graph, name)
        if name == "sim":
            demo = sub.add_argument_group("end-to-end pick (flash_bringup.pick_demo) once the graph is up")
            demo.add_argument("--prompt", default=None, help="run the pick from this sentence, then stop the graph "
                              "(--object: the scene object to pick)")
            demo.add_argument("--out", default="outputs/sim_pick",
                              help="the pick's PNG strip, MP4 and summary; frames in <out>/frames unless --record-dir")
            demo.add_argument("--attempts", type=int, default=None,
                              help="picks tried before giving up (default: the client's)")


def _add_graph_arguments(parser: argparse.ArgumentParser, graph: GraphDescription, mode: str) -> None:
    group = parser.add_argument_group("launch arguments (config/graph.yaml)")
    for argument in graph.mode(mode).arguments.values():
        choices = f" ({'|'.join(argument.choices)})" if argument.choices else ""
        group.add_argument(_option(argument.name), dest=argument.name, default=None, metavar="VALUE",
                           help=f"{argument.description}{choices} [default: {argument.default!r}]")
    parser.set_defaults(_graph_arguments=list(graph.mode(mode).arguments))


def graph_arguments(args: argparse.Namespace) -> dict[str, str]:
    """The launch arguments given on the command line (the others take the graph's defaults)."""
    return {name: getattr(args, name) for name in args._graph_arguments if getattr(args, name) is not None}


def run(args: argparse.Namespace) -> None:
    if getattr(args, "_graph_error", None):
        sys.exit(f"flash bringup: {args._graph_error}")
    pick_demo = None
    if getattr(args, "prompt", None) is not None:
        try:
            pick_demo = importlib.import_module(PICK_DEMO)
        except ModuleNotFoundError as exc:
            if exc.name != PICK_DEMO:
                raise
            sys.exit(f"flash bringup: --prompt needs the end-to-end pick client {PICK_DEMO}, not installed here")
        if args.record_dir is None:  # the simulator records the frames of the demo's strip and video
            args.record_dir = str(Path(args.out) / "frames")
    try:
        description = load_graph(args.graph) if args.graph else None
        graph = Graph.start(args.mode, graph_arguments(args), description=description, log_dir=args.log_dir)
    except (GraphError, BringupError) as exc:
        sys.exit(f"flash bringup: {exc}")
    # SIGTERM ends the run like Ctrl-C; once stopping, further signals cannot interrupt the bounded shutdown.
    signal.signal(signal.SIGTERM, _interrupt)
    code = 0
    try:
        if pick_demo is not None:
            code = pick_demo.run(graph, args)
        else:
            graph.wait()
            graph.say("every node has exited")
            code = 1
    except KeyboardInterrupt:
        graph.say("interrupted")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        codes = graph.shutdown()
        graph.say("stopped: " + ", ".join(f"{name} {code}" for name, code in codes.items()))
    sys.exit(code)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
