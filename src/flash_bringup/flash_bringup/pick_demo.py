"""The end-to-end pick from a sentence, against a running sim graph (`flash bringup sim --prompt ...`).

Once the graph serves (perception publishing the target's cloud, the `generate_grasp` and `pick` action servers
discovered, the simulator's clock and object TF arriving), each attempt:
1. perceives: takes the first scene perception publishes after the attempt began (target cloud, obstacle cloud
   and table plane of one camera frame), so grasps and plan see the same, current object;
2. generates grasps: GenerateGrasp with the prompt and that partial-view cloud; a later attempt keeps the
   previous candidates after the one tried, unless the object moved by more than `moved_m`, none is left, or
   none of them has a feasible plan (then new grasps, with the next seed);
3. picks: the Pick action with the ranked candidates and the same scene; the pick node executes the first one
   with a feasible plan (planning, open_hand, to_pregrasp, approach, close_hand, lift, retreat);
4. judges from the simulator's ground truth, the object's TF `world -> object/<name>`: success when the object
   stays at least `min_lift_m` above where it rested for `hold_s` of sim time after the pick.
A failed attempt is followed by another, up to `attempts`. It prints progress and a table (success, lift
height, time per stage), and writes `summary.json`, `strip.png` (frames at the stage boundaries, labelled) and
`pick.mp4` into `out`, from the frames the sim node records into its `record_dir` (flash_bringup.recording).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

OBJECT_FRAME_PREFIX = "object/"
WORLD_FRAME = "world"
# The servers answer goals in milliseconds; after this long without an answer the goal is followed by its id.
GOAL_ANSWER_TIMEOUT_S = 10.0


@dataclass
class PickDemoConfig:
    prompt: str = "grasp the mug by the handle"
    out: Path = Path("outputs/sim_pick")
    object_name: str = ""            # the object judged (TF object/<name>); "": the scene's only object
    attempts: int = 3                # picks tried before giving up
    num_grasps: int = 32             # generated per GenerateGrasp goal (those that touch the object go to the pick)
    seed: int = 0                    # GenerateGrasp seed of the first attempt (+1 per new set of grasps)
    # The object must stay this far above its rest height for hold_s: the pick lifts 0.10 m (and, with the pick
    # node's retreat_to_start, goes back to the start configuration, higher still), so a held object ends above
    # this; a knocked-over one does not (its frame rises by its radius: 0.03 m seen for a toppled bottle).
    min_lift_m: float = 0.08
    hold_s: float = 2.0              # sim seconds the object must stay up after the pick
    moved_m: float = 0.01            # an object displaced by more than this gets new grasps
    # An object this far below its rest height fell off the table: no later attempt could perceive it.
    off_table_m: float = 0.2
    ready_timeout_s: float = 300.0   # graph start-up: model loading and DDS discovery on a loaded machine
    perception_timeout_s: float = 60.0
    goal_timeout_s: float = 900.0    # one GenerateGrasp or Pick goal (sim slower than real time on 2 cores)
    record_dir: Path | None = None   # the sim node's frames; None: <out>/frames

    def __post_init__(self):
        self.out = Path(self.out)
        if not self.prompt.strip():
            raise ValueError("the prompt is empty: say what to grasp, e.g. 'grasp the mug by the handle'")
        if self.attempts < 1 or self.num_grasps < 1:
            raise ValueError(f"attempts and num_grasps must be >= 1, got {self.attempts} and {self.num_grasps}")
        if self.min_lift_m <= 0.0 or self.hold_s < 0.0 or self.off_table_m <= 0.0:
            raise ValueError(f"min_lift_m and off_table_m must be > 0 and hold_s >= 0, got {self.min_lift_m}, "
                             f"{self.off_table_m} and {self.hold_s}")

    @property
    def frames_dir(self) -> Path:
        return Path(self.record_dir) if self.record_dir is not None else self.out / "frames"


def config_from_args(args: argparse.Namespace) -> PickDemoConfig:
    """From `flash bringup sim`'s options (flash_bringup.command): --prompt, --out, --attempts (None: the default),
    --object (the sim's object swap, also the name of the object judged) and --record-dir (the sim's frames)."""
    return PickDemoConfig(prompt=args.prompt, out=Path(args.out), object_name=_object_name(args.object or ""),
                          attempts=args.attempts or PickDemoConfig.attempts,
                          record_dir=Path(args.record_dir) if args.record_dir else None)


def _object_name(source: str) -> str:
    """The sim names a swapped-in object after its source: the category, or a mesh file's stem."""
    return Path(source).stem if Path(source).suffix else source


class DemoError(RuntimeError):
    """The graph did not serve as expected (a node missing, a goal refused or timed out); names the part."""


class WaitTimeout(DemoError):
    """A wait ran out of time with every node of the graph alive."""


@dataclass
class Scene:
    """One perception frame: the messages as received, and the target cloud's centroid (m, base frame)."""

    object_cloud: object
    obstacle_cloud: object
    table_plane: object | None
    stamp_s: float
    centroid_m: np.ndarray


@dataclass
class Attempt:
    index: int
    stage_times_s: dict[str, float] = field(default_factory=dict)   # in the order they ran (wall time)
    candidates: int = 0                 # grasps sent to Pick
    grasp_index: int = -1               # executed candidate (into those sent), -1: none
    reason: str = ""                    # the Pick result's
    executed: bool = False
    lift_m: float = 0.0                 # lowest height above rest during the hold (the judged one)
    peak_lift_m: float = 0.0
    lifted_m: float = 0.0               # height above rest when the lift segment ended (before the retreat)
    grasp: dict = field(default_factory=dict)  # the executed grasp as the grasp server described it
    success: bool = False
    moments: list[tuple[str, float]] = field(default_factory=list)  # (stage, sim time s) for the strip
    pick_stages: list[str] = field(default_factory=list)  # the last Pick result's stages and seconds
    pick_times_s: list[float] = field(default_factory=list)


class PickClient:
    """The demo's ROS side: one node with sim time in its own context. It spins only inside `wait`, in the
    calling thread: rclpy's action client may lose a goal response when goals are sent from one thread while
    another spins (seen here: a Pick goal accepted by the node but never by the client)."""

    def __init__(self, exited=dict):
        """exited() -> {node: exit code} of graph nodes that died (the runner's Graph.exited): waits end early."""
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.action import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import PointCloud2
        from tf2_msgs.msg import TFMessage

        from flash_interfaces.action import GenerateGrasp, Pick
        from flash_ros.frames import TF_QOS
        from flash_ros.qos import LATCHED

        self.GenerateGrasp, self.Pick = GenerateGrasp, Pick
        self.exited = exited
        self.context = rclpy.Context()
        # No signal handlers of rclpy's: Ctrl-C stays the KeyboardInterrupt the runner stops the graph on.
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = Node("flash_pick_demo", context=self.context,
                         parameter_overrides=[Parameter("use_sim_time", Parameter.Type.BOOL, True)])
        self.grasp_client = ActionClient(self.node, GenerateGrasp, "generate_grasp")
        self.pick_client = ActionClient(self.node, Pick, "pick")
        self._latest: dict[str, object] = {}          # "object" / "obstacles" / "table" -> message
        self._poses: dict[str, deque] = {}             # object name -> (stamp s, xyz) history
        self.node.create_subscription(PointCloud2, "object_cloud", lambda m: self._keep("object", m), LATCHED)
        self.node.create_subscription(PointCloud2, "obstacle_cloud", lambda m: self._keep("obstacles", m), LATCHED)
        self.node.create_subscription(PoseStamped, "table_plane", lambda m: self._keep("table", m), LATCHED)
        self.node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def close(self) -> None:
        # Action clients are waitables, which Node.destroy_node leaves alone. Left to the garbage collector (the
        # subscriptions' callbacks hold self in a cycle), one was finalised after the context's shutdown and hung
        # in Fast DDS (a reader's timer waiting on the participant's stopped event thread) at pytest's exit.
        self.grasp_client.destroy()
        self.pick_client.destroy()
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()

    # --- inputs ---
    def _keep(self, kind: str, msg) -> None:
        self._latest[kind] = msg

    def _on_tf(self, msg) -> None:
        for item in msg.transforms:
            if item.header.frame_id != WORLD_FRAME or not item.child_frame_id.startswith(OBJECT_FRAME_PREFIX):
                continue
            t = item.transform.translation
            stamp = item.header.stamp.sec + item.header.stamp.nanosec * 1e-9
            history = self._poses.setdefault(item.child_frame_id[len(OBJECT_FRAME_PREFIX):], deque(maxlen=4000))
            history.append((stamp, np.array([t.x, t.y, t.z])))

    def wait(self, predicate, timeout_s: float, what: str, poll_s: float = 0.05):
        """Spin until predicate() is truthy and return its value; WaitTimeout naming `what` after timeout_s (wall),
        DemoError at once when a node of the graph died."""
        from flash_ros.spinning import collector_paused

        deadline = time.monotonic() + timeout_s
        with collector_paused():  # a collection inside the executor's wait can deadlock rclpy
            while time.monotonic() < deadline:
                value = predicate()
                if value:
                    return value
                if self.exited():
                    raise DemoError(f"{what}: node(s) died: {self.exited()}")
                self.executor.spin_once(timeout_sec=poll_s)
        raise WaitTimeout(f"{what} within {timeout_s:.0f} s")

    def wait_future(self, future, timeout_s: float, what: str):
        """An rclpy future's result."""
        self.wait(future.done, timeout_s, f"{what} did not answer", poll_s=0.02)
        return future.result()

    def run_goal(self, action_client, action_type, goal, timeout_s: float, what: str, feedback_callback=None):
        """Send `goal` and return its result response (None when the server rejected it). A lost goal answer or
        result response does not end the wait (flash_ros.action_goals): after GOAL_ANSWER_TIMEOUT_S without an
        answer the goal is followed by its id, and the result is asked for again every RESULT_REQUEST_PERIOD_S
        until `timeout_s`. DemoError when the server does not know the goal."""
        from action_msgs.msg import GoalStatus

        from flash_ros.action_goals import RESULT_REQUEST_PERIOD_S, handle_by_id, new_goal_id

        goal_id = new_goal_id()
        sent = action_client.send_goal_async(goal, feedback_callback=feedback_callback, goal_uuid=goal_id)
        try:
            handle = self.wait_future(sent, GOAL_ANSWER_TIMEOUT_S, f"{what} (goal)")
        except WaitTimeout:
            handle = handle_by_id(action_client, action_type, goal_id)
        if not handle.accepted:
            return None
        deadline = time.monotonic() + timeout_s
        while True:
            request = handle.get_result_async()
            try:
                response = self.wait_future(request, min(RESULT_REQUEST_PERIOD_S, deadline - time.monotonic()),
                                            f"{what} (result)")
                break
            except WaitTimeout:
                if time.monotonic() >= deadline:
                    raise WaitTimeout(f"{what} (result) did not answer within {timeout_s:.0f} s") from None
        if response.status == GoalStatus.STATUS_UNKNOWN:
            raise DemoError(f"{what}: no answer to the goal, and the server does not know it")
        return response.result

    def now_s(self) -> float:
        """Sim time (s): /clock."""
        return self.node.get_clock().now().nanoseconds * 1e-9

    def object_names(self) -> list[str]:
        return sorted(self._poses)

    def object_position(self, name: str) -> np.ndarray:
        """The latest world position (3,) of object/<name>."""
        return self._poses[name][-1][1].copy()

    def latest_pose_stamp(self, name: str) -> float:
        """Sim time (s) of the latest object/<name> pose received."""
        return self._poses[name][-1][0]

    def object_height_at(self, name: str, time_s: float) -> float:
        """World z (m) of object/<name> at the stamp nearest time_s (sim s) in the kept history."""
        stamps = np.array([s for s, _ in self._poses[name]])
        return float(self._poses[name][int(np.abs(stamps - time_s).argmin())][1][2])

    def object_heights(self, name: str, start_s: float, end_s: float) -> np.ndarray:
        """World z (m) of object/<name> stamped within [start_s, end_s]."""
        return np.array([p[2] for s, p in self._poses[name] if start_s <= s <= end_s])

    def scene_after(self, after_s: float) -> Scene | None:
        """The latest perception frame stamped at or after after_s (sim s), its three messages of one stamp."""
        from flash_ros.cloud import read_points
        from flash_ros.frames import stamp_to_seconds

        target, obstacles, table = (self._latest.get(k) for k in ("object", "obstacles", "table"))
        if target is None or obstacles is None or target.header.stamp != obstacles.header.stamp:
            return None
        stamp_s = stamp_to_seconds(target.header.stamp) or 0.0
        if stamp_s < after_s:
            return None
        if table is not None and table.header.stamp != target.header.stamp:
            table = None  # not of this frame: the pick node then uses the latest one it has
        centroid = read_points(target)["xyz"].astype(float).mean(axis=0)
        return Scene(target, obstacles, table, stamp_s, centroid)


def wait_sim(client: PickClient, duration_s: float, timeout_s: float) -> float:
    """Wait for duration_s of sim time; returns the sim time reached."""
    end_s = client.now_s() + duration_s
    client.wait(lambda: client.now_s() >= end_s, timeout_s, f"sim time did not advance by {duration_s} s")
    return client.now_s()


def wait_until_serving(client: PickClient, config: PickDemoConfig) -> str:
    """Block until the graph serves; returns the judged object's name."""
    timeout = config.ready_timeout_s
    began = time.monotonic()
    left = lambda: max(1.0, timeout - (time.monotonic() - began))  # noqa: E731
    client.wait(lambda: client.now_s() > 0.0, left(), "no sim time on /clock (is the sim node running?)")
    client.wait(client.object_names, left(), f"no object TF ({WORLD_FRAME} -> {OBJECT_FRAME_PREFIX}<name>)")
    names = client.object_names()
    name = config.object_name or (names[0] if len(names) == 1 else "")
    if name not in names:
        raise DemoError(f"object {config.object_name!r} not in the scene: the sim publishes {names}"
                        if config.object_name else f"the scene holds {names}: name the one to judge with --object")
    client.wait(lambda: client.scene_after(0.0), left(), "perception published no target cloud (object_cloud)")
    client.wait(client.grasp_client.server_is_ready, left(), "no generate_grasp action server (grasp server)")
    client.wait(client.pick_client.server_is_ready, left(), "no pick action server (pick node)")
    return name


def generate_grasps(client: PickClient, config: PickDemoConfig, scene: Scene, seed: int) -> list:
    """Ranked flash_interfaces/Grasp messages for the prompt and the scene's target cloud, only those the server
    predicts to touch it (a finger within its contact threshold of the cloud): a hand that closes on air cannot
    lift anything, and such grasps, clear of the object, are the easiest to plan, so the pick node ran them first
    (seen: every executed grasp touched nothing). Not the thumb in opposition: on a single view the thumb is
    usually behind the object, where the cloud has no points (0 of 96 mug grasps would pass)."""
    goal = client.GenerateGrasp.Goal(prompt=config.prompt, object_cloud=scene.object_cloud,
                                     num_grasps=config.num_grasps, use_seed=True, seed=seed)
    result = client.run_goal(client.grasp_client, client.GenerateGrasp, goal, config.goal_timeout_s, "generate_grasp")
    if result is None:
        raise DemoError("generate_grasp rejected the goal")
    if result.error_code != client.GenerateGrasp.Result.SUCCESS or not result.grasps:
        raise DemoError(f"generate_grasp failed (error {result.error_code}): {result.message}")
    return [g for g in result.grasps if g.contact_fingers]


def pick(client: PickClient, config: PickDemoConfig, scene: Scene, grasps: list, attempt: Attempt, on_stage):
    """Run the Pick action; fills attempt (stage times, executed index, reason, moments)."""
    goal = client.Pick.Goal(grasps=grasps, object_cloud=scene.object_cloud)
    if _count(scene.obstacle_cloud):  # none seen: left empty (the node reads no points from an empty cloud)
        goal.obstacle_cloud = scene.obstacle_cloud
    if scene.table_plane is not None:
        goal.table_plane = scene.table_plane

    def on_feedback(msg) -> None:
        attempt.moments.append((msg.feedback.stage, client.now_s()))
        on_stage(msg.feedback.stage)

    result = client.run_goal(client.pick_client, client.Pick, goal, config.goal_timeout_s, "pick", on_feedback)
    if result is None:
        raise DemoError("pick rejected the goal (another pick running?)")
    attempt.moments.append(("end", client.now_s()))
    attempt.pick_stages, attempt.pick_times_s = list(result.stage_names), list(result.stage_times_s)
    for stage, seconds in zip(result.stage_names, result.stage_times_s):
        attempt.stage_times_s[stage] = attempt.stage_times_s.get(stage, 0.0) + seconds
    attempt.candidates, attempt.grasp_index, attempt.reason = len(grasps), result.grasp_index, result.reason
    if 0 <= result.grasp_index < len(grasps):
        g = grasps[result.grasp_index]
        p = g.wrist_pose.pose.position
        attempt.grasp = {"id": g.id, "score": g.score, "contact_distance_m": g.contact_distance_m,
                         "max_penetration_m": g.max_penetration_m, "contact_fingers": list(g.contact_fingers),
                         "wrist_m": [p.x, p.y, p.z], "frame": g.wrist_pose.header.frame_id}
    attempt.executed = bool(result.success)


def judge_hold(client: PickClient, config: PickDemoConfig, name: str, rest_z_m: float, attempt: Attempt) -> None:
    """Success: object/<name> at least min_lift_m above its rest height throughout hold_s of sim time."""
    start_s = client.now_s()
    end_s = wait_sim(client, config.hold_s, config.goal_timeout_s)
    # /clock runs ahead of /tf in this process's queue when the machine is loaded: wait for the window's poses.
    client.wait(lambda: client.latest_pose_stamp(name) >= end_s, config.goal_timeout_s, f"object/{name} TF")
    heights = client.object_heights(name, start_s, end_s)
    if len(heights) == 0:
        raise DemoError(f"no TF of object/{name} during the hold (the sim stopped publishing it)")
    attempt.lift_m, attempt.peak_lift_m = float(heights.min() - rest_z_m), float(heights.max() - rest_z_m)
    # Slip while lifting, or a drop during the retreat: the height when the lift ended tells them apart (with
    # retreat_to_start off the pick ends with the lift: the hold starts there).
    lift_end_s = next((t for stage, t in attempt.moments if stage == "retreat"), start_s)
    attempt.lifted_m = float(client.object_height_at(name, lift_end_s) - rest_z_m)
    attempt.success = attempt.executed and attempt.lift_m >= config.min_lift_m
    attempt.moments.append(("held" if attempt.success else "not held", end_s))


def run_attempts(client: PickClient, config: PickDemoConfig, name: str, console, attempts: list[Attempt]) -> None:
    """Attempts until one holds or config.attempts ran, appended to `attempts` as they start."""
    grasps, seed, centroid = [], config.seed, None
    status = console.status("")
    with status:
        for index in range(config.attempts):
            attempt = Attempt(index)
            attempts.append(attempt)
            timer = _StageTimer(attempt, console)
            status.update(f"attempt {index + 1}/{config.attempts}: perceiving")
            after_s = client.now_s()
            try:
                scene = client.wait(lambda after_s=after_s: client.scene_after(after_s),
                                    config.perception_timeout_s, "perception published no target cloud")
            except WaitTimeout:
                if index == 0:  # it never saw the object: the graph does not serve
                    raise
                # It saw the object before this attempt moved it: out of the camera's view or the workspace crop
                # is where a pick can leave it, and that is a failed pick, not a graph that stopped serving.
                attempt.reason = "perception no longer sees the object after the previous attempt: no further attempt"
                console.print(f"  attempt {index + 1}: {attempt.reason}", highlight=False)
                break
            rest_z_m = float(client.object_position(name)[2])
            timer.done("perception", f"{_count(scene.object_cloud)} points, "
                                     f"centroid {np.round(scene.centroid_m, 3).tolist()} m")
            attempt.moments.append(("perceived", client.now_s()))
            moved = centroid is not None and np.linalg.norm(scene.centroid_m - centroid) > config.moved_m
            centroid = scene.centroid_m
            label = f"attempt {index + 1}/{config.attempts}"
            on_stage = lambda stage, label=label: status.update(f"{label}: {stage}")  # noqa: E731
            # The previous attempt's remaining candidates while the object stays put; new grasps for this scene
            # when it moved, none are left, or none of those left has a feasible plan.
            for fresh in ([False, True] if grasps and not moved else [True]):
                if fresh:
                    status.update(f"{label}: generating grasps for {config.prompt!r}")
                    grasps = generate_grasps(client, config, scene, seed)
                    timer.done("grasp generation", f"{len(grasps)} of {config.num_grasps} grasps touch the object "
                                                   f"(seed {seed})")
                    seed += 1
                if not grasps:
                    attempt.reason = f"none of {config.num_grasps} grasps touches the object"
                    break
                timer.mark()
                pick(client, config, scene, grasps, attempt, on_stage)
                timer.report_pick()
                if attempt.grasp_index >= 0:
                    break
            if attempt.executed:
                status.update(f"attempt {index + 1}/{config.attempts}: holding {config.hold_s} s (sim) to judge")
                judge_hold(client, config, name, rest_z_m, attempt)
                attempt.stage_times_s["hold"] = timer.mark()
            reason = attempt.reason if len(attempt.reason) < 200 else attempt.reason[:200] + " ... (summary.json)"
            console.print(f"  attempt {index + 1}: {'[green]held[/]' if attempt.success else '[red]failed[/]'}: "
                          f"lift {attempt.lift_m:+.3f} m (after the lift segment {attempt.lifted_m:+.3f} m); {reason}",
                          highlight=False)
            if attempt.success:
                break
            drop_m = rest_z_m - float(client.object_position(name)[2])
            if drop_m > config.off_table_m:
                attempt.reason += f"; the object fell off the table ({drop_m:.2f} m down): no further attempt"
                console.print(f"  the {name} fell off the table ({drop_m:.2f} m down): no further attempt",
                              highlight=False)
                break
            # Next: the candidates after the one executed; none executed (none feasible) or none left: new grasps.
            grasps = grasps[attempt.grasp_index + 1:] if attempt.grasp_index >= 0 else []


def _count(cloud) -> int:
    return cloud.width * cloud.height


class _StageTimer:
    """Wall time per stage of one attempt, printed as each ends."""

    def __init__(self, attempt: Attempt, console):
        self.attempt, self.console, self._began = attempt, console, time.monotonic()

    def mark(self) -> float:
        now = time.monotonic()
        elapsed, self._began = now - self._began, now
        return elapsed

    def done(self, stage: str, detail: str) -> None:
        seconds = self.mark()
        self.attempt.stage_times_s[stage] = self.attempt.stage_times_s.get(stage, 0.0) + seconds
        self.console.print(f"  {stage:<17} {seconds:6.1f} s  {detail}")

    def report_pick(self) -> None:
        """The pick node's own stage times (planning and the segments it executed), once its result is in."""
        self.mark()
        for stage, seconds in zip(self.attempt.pick_stages, self.attempt.pick_times_s):
            self.console.print(f"  {stage:<17} {seconds:6.1f} s")


def write_pictures(config: PickDemoConfig, attempts: list[Attempt], start_s: float, started_wall_s: float,
                   console) -> dict[str, str]:
    """strip.png (the stage boundaries of the last attempt that moved the arm, else the last) and pick.mp4
    (every frame since start_s, sim time, written since started_wall_s, epoch)."""
    from flash_bringup.recording import list_frames, write_strip, write_video

    try:
        frames = list_frames(config.frames_dir, start_s=start_s, written_after=started_wall_s)
    except FileNotFoundError as exc:
        console.print(f"[yellow]no pictures:[/] {exc}")
        return {}
    if len(frames) < 2:
        console.print(f"[yellow]no pictures:[/] {len(frames)} frame(s) recorded in {config.frames_dir}")
        return {}
    shown = ([a for a in attempts if a.executed or a.grasp_index >= 0] or attempts)[-1]
    moments = [(stage, t) for stage, t in shown.moments if stage not in ("planning", "end")]
    return {"strip": str(write_strip(moments, frames, config.out / "strip.png")),
            "video": str(write_video(frames, config.out / "pick.mp4"))}


def print_table(console, config: PickDemoConfig, attempts: list[Attempt], total_s: float) -> None:
    """One column per attempt: held or not, lift height (m), then seconds per stage in the order they ran."""
    from rich.table import Table

    stages = list(dict.fromkeys(s for a in attempts for s in a.stage_times_s))
    table = Table(title=f"pick {config.prompt!r}")
    table.add_column("")
    for a in attempts:
        table.add_column(f"attempt {a.index + 1}", justify="right")
    table.add_row("held", *["[green]yes[/]" if a.success else "[red]no[/]" for a in attempts])
    table.add_row("lift held (m)", *[f"{a.lift_m:.3f}" for a in attempts])
    table.add_row("lift before retreat (m)", *[f"{a.lifted_m:.3f}" for a in attempts])
    for stage in stages:
        table.add_row(f"{stage} (s)", *[f"{a.stage_times_s[stage]:.1f}" if stage in a.stage_times_s else "-"
                                         for a in attempts])
    table.add_row("sum (s)", *[f"{sum(a.stage_times_s.values()):.1f}" for a in attempts])
    console.print(table)
    console.print(f"total {total_s:.1f} s (wall, with the wait for the graph)")


def run(graph, args: argparse.Namespace) -> int:
    """`flash bringup sim --prompt ...`: pick with the running graph; 0 when the object was held, else 1.
    `graph` is the started sim graph (its processes serve the topics and actions above)."""
    from rich.console import Console

    return run_demo(config_from_args(args), Console(), exited=lambda: dict(graph.exited))


def run_demo(config: PickDemoConfig, console, exited=dict) -> int:
    """The demo with a console; 0: held, 1: not held after every attempt, 2: the graph did not serve."""
    started, started_wall_s = time.monotonic(), time.time()
    config.out.mkdir(parents=True, exist_ok=True)
    attempts: list[Attempt] = []
    name, error, pictures = config.object_name, "", {}
    client = PickClient(exited)
    try:
        with console.status("waiting for the graph: sim clock and objects, perception, grasp server, pick node"):
            name = wait_until_serving(client, config)
        console.print(f"graph serving after {time.monotonic() - started:.1f} s; picking {name!r} "
                      f"for {config.prompt!r}")
        start_s = client.now_s()
        try:
            run_attempts(client, config, name, console, attempts)
        except DemoError:  # what was recorded still shows how far it got
            pictures = write_pictures(config, attempts, start_s, started_wall_s, console) if attempts else {}
            raise
        pictures = write_pictures(config, attempts, start_s, started_wall_s, console)
    except DemoError as exc:
        error = str(exc)
        console.print(f"[red]error:[/] {error}")
    finally:
        client.close()
    total_s = time.monotonic() - started
    success = bool(attempts) and attempts[-1].success
    summary = {"prompt": config.prompt, "object": name, "success": success,
               "lift_m": attempts[-1].lift_m if attempts else None, "min_lift_m": config.min_lift_m,
               "hold_s": config.hold_s, "error": error,
               "attempts": [{k: v for k, v in asdict(a).items() if k not in ("moments", "pick_stages", "pick_times_s")}
                            for a in attempts],
               "total_s": total_s, "files": pictures}
    (config.out / "summary.json").write_text(json.dumps(summary, indent=2))
    if attempts:
        print_table(console, config, attempts, total_s)
    console.print(f"{'[green]held' if success else '[red]not held'}[/]: wrote "
                  f"{', '.join([str(config.out / 'summary.json'), *pictures.values()])}")
    return 0 if success else 2 if error else 1
