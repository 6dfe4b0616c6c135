"""Following an action goal by its id, for clients whose goal answer may be lost.

DDS drops a service response sent before the server has matched the requester's reply reader (Fast DDS waits
100 ms by default; config/fastdds_services.xml raises it to 2 s). An action's goal answer is such a response: a
goal can be accepted and running while its client never hears so. A client that chose the goal's id
(`send_goal_async(goal, goal_uuid=new_goal_id())`) can still ask for the result and cancel by that id; a server
that never got the goal answers the result request with STATUS_UNKNOWN. A result response can be lost the same way:
clients ask for it again every RESULT_REQUEST_PERIOD_S (the server answers every request, with the kept result
once the goal has ended).
"""

from __future__ import annotations

import uuid

from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from unique_identifier_msgs.msg import UUID

RESULT_REQUEST_PERIOD_S = 1.0  # how often a result that has not come is asked for again


def new_goal_id() -> UUID:
    return UUID(uuid=list(uuid.uuid4().bytes))


def handle_by_id(client: ActionClient, action_type, goal_id: UUID) -> ClientGoalHandle:
    """A goal handle for a goal sent as `goal_id` whose answer never came: its result and cancel requests go by id
    (the goal is taken as accepted; the result's status tells whether the server knows it)."""
    return ClientGoalHandle(client, goal_id, action_type.Impl.SendGoalService.Response(accepted=True))
