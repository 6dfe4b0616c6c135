"""Awaiting an rclpy future with a deadline, inside a coroutine callback (an action's execute callback).

rclpy futures have no timeout of their own. A DDS message can be lost (a service response sent before the
server has matched the requester's reply reader is dropped), and an `await` on its future then never returns:
the node hangs in that goal instead of failing it with a reason.
"""

from __future__ import annotations

from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from rclpy.task import Future


async def wait_for(node: Node, future: Future, timeout_s: float, callback_group: CallbackGroup | None = None) -> bool:
    """Await `future` for at most `timeout_s` seconds of `node`'s clock (sim time under use_sim_time).

    Returns True once the future is done, False when the time ran out first (the future is left pending; a late
    result still lands in it). The deadline is a one-shot use of a node timer in `callback_group`, which must be
    able to run while the awaiting callback is suspended (a reentrant group, or another group than the caller's).
    """
    if timeout_s <= 0.0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    if future.done():
        return True
    woken = Future()

    def wake(_=None) -> None:
        if not woken.done():
            woken.set_result(None)

    timer = node.create_timer(timeout_s, wake, callback_group=callback_group)
    future.add_done_callback(wake)
    try:
        await woken
    finally:
        node.destroy_timer(timer)
    return future.done()
