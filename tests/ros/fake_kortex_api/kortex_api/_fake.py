"""The fake's behaviour; the modules beside it re-export it under the real wheel's names (CamelCase methods
and module names are kortex_api's own)."""

import json
import os
import sys
import threading
from types import SimpleNamespace

# kortex_api.autogen.messages.Base_pb2.ActionEvent values.
ACTION_END, ACTION_ABORT, ACTION_START = 1, 2, 4


def record(call, **fields):
    path = os.environ.get("FAKE_KORTEX_LOG")
    if path:
        with open(path, "a") as log:
            log.write(json.dumps(dict({"call": call}, **fields)) + "\n")


def mode():
    return os.environ.get("FAKE_KORTEX_MODE", "end")


class TCPTransport:
    def connect(self, ip, port):
        record("TCPTransport.connect", ip=ip, port=port)

    def disconnect(self):
        record("TCPTransport.disconnect")


class RouterClient:
    def __init__(self, transport, error_callback):
        self.transport = transport

    @staticmethod
    def basicErrorCallback(exception):
        print("router error:", exception, file=sys.stderr)


class RouterClientSendOptions:
    timeout_ms = 0


class CreateSessionInfo:
    username = password = ""
    session_inactivity_timeout = connection_inactivity_timeout = 0


class SessionManager:
    def __init__(self, router):
        self.router = router

    def CreateSession(self, info):
        record("SessionManager.CreateSession", username=info.username, password=info.password,
               session_inactivity_timeout=info.session_inactivity_timeout,
               connection_inactivity_timeout=info.connection_inactivity_timeout)

    def CloseSession(self, options=None):
        record("SessionManager.CloseSession", timeout_ms=getattr(options, "timeout_ms", None))


class AngularWaypoint:
    def __init__(self):
        self.angles = []
        self.duration = 0.0


class Waypoint:
    def __init__(self):
        self.name = ""
        self.angular_waypoint = AngularWaypoint()


class _Waypoints(list):
    def add(self):
        self.append(Waypoint())
        return self[-1]


class WaypointList:
    def __init__(self):
        self.duration = 0.0
        self.use_optimal_blending = False
        self.waypoints = _Waypoints()


class NotificationOptions:
    pass


class BaseClient:
    def __init__(self, router):
        self._callback = None
        self._timer = None

    def OnNotificationActionTopic(self, callback, options):
        self._callback = callback
        record("BaseClient.OnNotificationActionTopic")
        return "notification-handle"

    def Unsubscribe(self, handle):
        record("BaseClient.Unsubscribe", handle=handle)

    def ValidateWaypointList(self, trajectory):
        errors = ["waypoint_0: angle out of range"] if mode() == "reject" else []
        return SimpleNamespace(trajectory_error_report=SimpleNamespace(trajectory_error_elements=errors))

    def ExecuteWaypointTrajectory(self, trajectory):
        waypoints = [{"name": w.name, "angles": list(w.angular_waypoint.angles),
                      "duration": w.angular_waypoint.duration} for w in trajectory.waypoints]
        record("BaseClient.ExecuteWaypointTrajectory", use_optimal_blending=trajectory.use_optimal_blending,
               duration=trajectory.duration, waypoints=waypoints)
        if mode() == "crash":
            print("fake kortex: simulated crash", file=sys.stderr, flush=True)
            os._exit(3)
        motion_s = sum(w["duration"] for w in waypoints) * float(os.environ.get("FAKE_KORTEX_TIME_SCALE", "0"))
        self._notify(ACTION_START)
        self._timer = threading.Timer(motion_s, self._notify, (ACTION_ABORT if mode() == "abort" else ACTION_END,))
        self._timer.start()

    def StopAction(self):
        record("BaseClient.StopAction")
        if self._timer is not None and self._timer.is_alive():
            self._timer.cancel()
            self._notify(ACTION_ABORT)

    def GetMeasuredJointAngles(self):
        return SimpleNamespace(joint_angles=[SimpleNamespace(joint_identifier=i, value=10.0 * i) for i in range(7)])

    def _notify(self, event):
        self._callback(SimpleNamespace(action_event=event, abort_details=0 if event != ACTION_ABORT else 7))
