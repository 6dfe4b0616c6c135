"""The kortex_api worker: executes Gen3 arm trajectories through Kinova's own Python API, in its own process.

Kinova's kortex_api wheel is not on PyPI and pins an old protobuf, so it lives in an interpreter of its own
(any Python >= 3.7 with the wheel installed); `flash_motion.kortex_executor.KortexExecutor` starts this file
with that interpreter and talks to it over stdin/stdout. Only the standard library and kortex_api are used
here: this file must run without FLASH installed. Anything kortex_api prints goes to stderr.

Protocol: one JSON object per line. The worker speaks first:
    {"event": "hello", "python": "/usr/bin/python3.8", "kortex_api": "2.6.0"}
or, when kortex_api does not import, and then exits with code 2:
    {"event": "fatal", "error": "kortex_api is not installed in /usr/bin/python3.8: No module named 'kortex_api'"}
Requests carry an integer "id"; each gets exactly one reply {"id": n, "ok": true, ...} or
{"id": n, "ok": false, "error": "..."}:
    {"id": 1, "op": "connect", "ip": "192.168.1.10", "port": 10000, "username": "admin", "password": "admin",
     "session_inactivity_timeout_ms": 60000, "connection_inactivity_timeout_ms": 2000}
    {"id": 2, "op": "execute", "use_optimal_blending": false,
     "waypoints": [{"angles_deg": [7 floats], "duration_s": 0.1}, ...]}
        The reply comes once Kortex validated (ValidateWaypointList) and started the trajectory; the end comes
        later as an event: {"event": "done", "id": 2, "ok": true} on ACTION_END, or
        {"event": "done", "id": 2, "ok": false, "error": "ACTION_ABORT ..."}.
    {"id": 3, "op": "stop"}      StopAction: a running trajectory then ends with an ACTION_ABORT "done".
    {"id": 4, "op": "status"}    -> {"id": 4, "ok": true, "executing": 2 or null, "joint_angles_deg": [...]}
    {"id": 5, "op": "shutdown"}  -> reply, close the session, exit 0 (end of stdin does the same).
"""

import json
import sys
import threading


class WorkerError(Exception):
    """A request that failed; its message goes back in the reply."""


class Channel:
    """Protocol lines to the real stdout, from the main thread and kortex_api's notification thread alike."""

    def __init__(self, stream):
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message):
        with self._lock:
            self._stream.write(json.dumps(message) + "\n")
            self._stream.flush()


def import_kortex():
    """The kortex_api names this worker uses, imported only here (the module is optional)."""
    from kortex_api.autogen.client_stubs.BaseClientRpc import BaseClient
    from kortex_api.autogen.messages import Base_pb2, Session_pb2
    from kortex_api.RouterClient import RouterClient, RouterClientSendOptions
    from kortex_api.SessionManager import SessionManager
    from kortex_api.TCPTransport import TCPTransport

    return {"BaseClient": BaseClient, "Base_pb2": Base_pb2, "Session_pb2": Session_pb2,
            "RouterClient": RouterClient, "RouterClientSendOptions": RouterClientSendOptions,
            "SessionManager": SessionManager, "TCPTransport": TCPTransport}


class Arm:
    """One session on one arm: TCPTransport -> RouterClient -> SessionManager.CreateSession -> BaseClient."""

    def __init__(self, api, channel, request):
        self._api = api
        self._channel = channel
        self._lock = threading.Lock()
        self.executing = None  # id of the execute request whose trajectory runs now
        self._transport = api["TCPTransport"]()
        self._router = api["RouterClient"](self._transport, api["RouterClient"].basicErrorCallback)
        self._transport.connect(request["ip"], int(request.get("port", 10000)))
        session = api["Session_pb2"].CreateSessionInfo()
        session.username = request["username"]
        session.password = request["password"]
        session.session_inactivity_timeout = int(request.get("session_inactivity_timeout_ms", 60000))
        session.connection_inactivity_timeout = int(request.get("connection_inactivity_timeout_ms", 2000))
        self._sessions = api["SessionManager"](self._router)
        self._sessions.CreateSession(session)
        self._base = api["BaseClient"](self._router)
        self._notifications = self._base.OnNotificationActionTopic(self._on_action,
                                                                   api["Base_pb2"].NotificationOptions())

    def execute(self, request_id, waypoints, use_optimal_blending):
        base_pb2 = self._api["Base_pb2"]
        trajectory = base_pb2.WaypointList()
        trajectory.duration = 0.0  # per-waypoint durations rule
        trajectory.use_optimal_blending = bool(use_optimal_blending)
        for index, point in enumerate(waypoints):
            waypoint = trajectory.waypoints.add()
            waypoint.name = "waypoint_%d" % index
            waypoint.angular_waypoint.angles.extend([float(a) for a in point["angles_deg"]])
            waypoint.angular_waypoint.duration = float(point["duration_s"])
        report = self._base.ValidateWaypointList(trajectory)
        errors = list(report.trajectory_error_report.trajectory_error_elements)
        if errors:
            shown = "; ".join(" ".join(str(e).split()) for e in errors[:3])
            raise WorkerError("Kortex rejected the trajectory (%d error(s)): %s" % (len(errors), shown))
        with self._lock:
            if self.executing is not None:
                raise WorkerError("trajectory %s is still executing; stop it first" % self.executing)
            self.executing = request_id  # before the call: the END notification may come at once
        try:
            self._base.ExecuteWaypointTrajectory(trajectory)
        except Exception:
            with self._lock:
                self.executing = None
            raise

    def _on_action(self, notification):
        base_pb2 = self._api["Base_pb2"]
        event = notification.action_event
        if event not in (base_pb2.ACTION_END, base_pb2.ACTION_ABORT):
            return
        with self._lock:
            request_id, self.executing = self.executing, None
        if request_id is None:
            return
        if event == base_pb2.ACTION_END:
            self._channel.send({"event": "done", "id": request_id, "ok": True})
        else:
            self._channel.send({"event": "done", "id": request_id, "ok": False,
                                "error": "ACTION_ABORT (abort_details %s)" % notification.abort_details})

    def stop(self):
        self._base.StopAction()

    def joint_angles_deg(self):
        return [float(j.value) for j in self._base.GetMeasuredJointAngles().joint_angles]

    def close(self):
        if self.executing is not None:  # the session ends with us: leave no motion running unwatched
            self._base.StopAction()
        self._base.Unsubscribe(self._notifications)
        options = self._api["RouterClientSendOptions"]()
        options.timeout_ms = 1000
        self._sessions.CloseSession(options)
        self._transport.disconnect()


def serve(api, channel, lines):
    arm = None
    try:
        for line in lines:
            if not line.strip():
                continue
            request_id = None
            try:
                request = json.loads(line)
                request_id = request.get("id")
                op = request.get("op")
                reply = {}
                if op == "connect":
                    if arm is not None:
                        raise WorkerError("already connected")
                    arm = Arm(api, channel, request)
                elif op == "shutdown":
                    channel.send({"id": request_id, "ok": True})
                    return
                elif arm is None:
                    raise WorkerError("not connected: send a 'connect' request first")
                elif op == "execute":
                    arm.execute(request_id, request["waypoints"], request.get("use_optimal_blending", False))
                elif op == "stop":
                    arm.stop()
                elif op == "status":
                    reply = {"executing": arm.executing, "joint_angles_deg": arm.joint_angles_deg()}
                else:
                    raise WorkerError("unknown op %r (connect, execute, stop, status, shutdown)" % op)
                channel.send(dict({"id": request_id, "ok": True}, **reply))
            except Exception as exc:  # every request gets a reply; kortex_api raises its own KServerException
                channel.send({"id": request_id, "ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
    finally:
        if arm is not None:
            arm.close()


def main():
    channel = Channel(sys.stdout)
    sys.stdout = sys.stderr  # kortex_api's own prints must not corrupt the protocol
    try:
        api = import_kortex()
    except ImportError as exc:
        channel.send({"event": "fatal", "error": "kortex_api is not installed in %s: %s" % (sys.executable, exc)})
        return 2
    try:
        from importlib.metadata import version

        kortex_version = version("kortex_api")
    except Exception:  # no package metadata (a source checkout): the version is only informative
        kortex_version = "unknown"
    channel.send({"event": "hello", "python": sys.executable, "kortex_api": kortex_version})
    serve(api, channel, sys.stdin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
