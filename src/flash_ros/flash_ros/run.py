"""Run one node until shutdown, the same way in every FLASH executable."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], args: list[str] | None = None, ready_line: str | None = None,
             executor_class: type[Executor] = MultiThreadedExecutor) -> None:
    """rclpy.init, build the node, spin it until Ctrl-C or shutdown, then destroy it.

    A MultiThreadedExecutor by default, so action servers can take cancel requests while a goal executes; nodes
    whose callbacks never block may pass SingleThreadedExecutor (a fifth of the CPU at 100 Hz callbacks).
    `ready_line` is printed once the node exists (test harnesses wait for it).
    """
    try:
        with rclpy.init(args=args):
            node = make_node()
            executor = executor_class()
            executor.add_node(node)
            if ready_line:
                print(ready_line, flush=True)
            try:
                # spin_once in a loop rather than spin(): spin() was seen to miss the SIGINT wake-up.
                while rclpy.ok():
                    executor.spin_once(timeout_sec=0.1)
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
