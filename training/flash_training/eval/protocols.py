"""The two simulated grasp tests, each returning a typed result per grasp (docs/eval.md has the rationale).

(a) `run_lift` — the FLASH paper's heuristic (Appendix A): a flat hand backed off along its approach moves to
    the wrist pose, the joints close along a linear plan to the target (then squeeze), gravity acts on the
    object, the wrist lifts it `lift_height_m` and holds; success when the object rose at least `min_rise_m`
    and is nearly still (`max_speed_mps`) at the end of the hold.
(b) `run_force_closure` — DexGraspBench's test as it runs grasps that come without their own pre-grasp and
    squeeze poses (its DexGraspNet conversion): gravity off; the hand starts at the grasp's wrist pose with the
    joints 10 % of the way back to the open hand (pre-grasp), closes to the grasp, then squeezes 10 % beyond it,
    each a 10-waypoint linear plan of 10 steps per waypoint (0.4 s); then for each of -x, +x, -y, +y, -z, +z
    (object frame) a force of `force_per_kg` x mass at the object's centre for 2 s, checked every 50 steps
    (0.2 s); success when the object never moved 5 cm nor turned 15 degrees. Like DexGraspBench, a direction
    stops at its first failed check and the test at its first failed direction. `strict_success` applies
    DRO-Grasp's 2 cm translation bound to the same run. Each direction starts from the state right after the
    squeeze, restored exactly (MuJoCo is deterministic, so this equals DexGraspBench's fresh reset and replay,
    at a sixth of the cost).

Both start with the same pre-check: a grasp whose hand overlaps the object or itself by more than
`max_penetration_m` (1 cm, DexGraspBench) fails without simulation. Each depth the caller gives (from the grasp
assessment) is used as given; a missing one is MuJoCo's contact depth at the grasp pose. `evaluate_grasps` gives
the hand-object depth measured against the exact mesh: MuJoCo's depth between two convex hulls is the distance
to push them apart along its contact normal, which overstates a shallow overlap (measured: 16 mm reported by
MuJoCo for a LEAP fingertip that sits 2 mm inside a mug whose convex pieces stay within 2.6 mm of the mesh).

The squeeze moves every joint target on beyond the grasp, away from the open hand (DexGraspBench's x 1.1 of the
grasp's joint angles, measured from the open hand so that hands whose open pose is not all zeros squeeze the
same way): a position-controlled finger that stops on the surface at its target presses with no force, so
without it no grasp would hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from flash_training.eval.scene import GraspScene

# DexGraspBench's order (the order only changes how soon a failing grasp stops).
DIRECTIONS = {"-x": (-1, 0, 0), "+x": (1, 0, 0), "-y": (0, -1, 0), "+y": (0, 1, 0), "-z": (0, 0, -1), "+z": (0, 0, 1)}


@dataclass(frozen=True)
class PlanConfig:
    """How the hand reaches the grasp (shared by both protocols)."""

    waypoints: int = 10  # per stage (DexGraspBench)
    steps_per_waypoint: int = 10  # 10 x 10 x 4 ms = 0.4 s per stage (the servos' time constant is 0.05 s)
    pregrasp_fraction: float = 0.1  # pre-grasp joints: this fraction of the way back to the open hand (x 0.9)
    squeeze_fraction: float = 0.1  # squeeze targets: this fraction of (grasp - open) beyond the grasp (x 1.1)
    max_penetration_m: float = 0.01  # pre-check, hand-object and self


@dataclass(frozen=True)
class LiftConfig:
    plan: PlanConfig = PlanConfig()
    backoff_m: float = 0.05  # flat-hand pre-grasp distance along the approach
    gravity_mps2: float = 9.81
    lift_height_m: float = 0.1  # DexGraspBench's tabletop lift height
    lift_s: float = 1.0
    hold_s: float = 1.0
    min_rise_m: float = 0.07  # "above a height": the object followed the hand up to within 3 cm
    max_speed_mps: float = 0.05  # "nearly still" after the hold
    lost_translation_m: float = 0.05  # the object left its place while the hand closed (DexGraspBench's bounds)
    lost_rotation_deg: float = 15.0


@dataclass(frozen=True)
class ForceClosureConfig:
    plan: PlanConfig = PlanConfig()
    force_per_kg: float = 10.0  # N per kg of object mass (DexGraspBench: 10 x mass)
    hold_s: float = 2.0
    check_every_steps: int = 50
    max_translation_m: float = 0.05  # DexGraspBench
    max_rotation_deg: float = 15.0  # DexGraspBench
    strict_translation_m: float = 0.02  # DRO-Grasp


@dataclass(frozen=True)
class DirectionResult:
    direction: str  # "+x", ...
    displacement_m: float  # largest object displacement seen while the force acted
    rotation_deg: float  # largest object rotation seen while the force acted
    success: bool


@dataclass(frozen=True)
class ProtocolResult:
    """One grasp under one protocol. `reason` is "held" on success, else what failed, in words."""

    protocol: str  # "lift" or "force"
    success: bool
    reason: str
    displacement_m: float  # lift: final slip against the lifting hand; force: worst direction's
    rotation_deg: float
    strict_success: bool | None = None  # force only: DRO-Grasp's 2 cm bound
    directions: tuple[DirectionResult, ...] = ()  # force: those run (the test stops at the first failed one)
    contact_links: tuple[str, ...] = ()  # hand bodies touching the object once the hand has closed


@dataclass(frozen=True)
class GraspPose:
    """The grasp in the simulator's terms: wrist position, quaternion (w, x, y, z), joints, approach direction
    (unit, object frame: the way the palm faces) and world up in the object frame."""

    wrist_pos: np.ndarray
    wrist_quat: np.ndarray
    joints: np.ndarray
    approach: np.ndarray
    up: np.ndarray


def _rotation_deg(quat_a: np.ndarray, quat_b: np.ndarray) -> float:
    dot = min(1.0, abs(float(np.dot(quat_a, quat_b))))
    return float(np.degrees(2.0 * np.arccos(dot)))


def _beyond(joints: np.ndarray, open_joints: np.ndarray, fraction: float) -> np.ndarray:
    """Joint targets `fraction` of (joints - open) past the grasp (negative: back towards the open hand)."""
    return joints + fraction * (joints - open_joints)


class _Unstable(RuntimeError):
    pass


def _step(scene: GraspScene, steps: int) -> None:
    import mujoco

    mujoco.mj_step(scene.model, scene.data, nstep=steps)
    if not np.isfinite(scene.data.qpos).all():
        raise _Unstable("the simulation diverged (non-finite state)")


def _move(scene: GraspScene, pos: tuple[np.ndarray, np.ndarray], quat: np.ndarray,
          joints: tuple[np.ndarray, np.ndarray], plan: PlanConfig, waypoints: int | None = None) -> None:
    """Linear plan from (pos[0], joints[0]) to (pos[1], joints[1]), orientation fixed."""
    n = waypoints or plan.waypoints
    for k in range(1, n + 1):
        s = k / n
        scene.command(pos[0] + s * (pos[1] - pos[0]), quat, joints[0] + s * (joints[1] - joints[0]))
        _step(scene, plan.steps_per_waypoint)


def precheck(scene: GraspScene, grasp: GraspPose, plan: PlanConfig,
             depths_m: tuple[float | None, float | None] | None = None) -> str | None:
    """None when the grasp may be simulated, else why not. depths_m: (hand-object, self) overlap in metres from
    the grasp assessment; each one missing (None) is measured with MuJoCo's contacts at the grasp pose."""
    given = depths_m or (None, None)
    if None in given:
        scene.reset(grasp.wrist_pos, grasp.wrist_quat, grasp.joints)
        contacts = scene.contacts()
        given = (contacts.hand_object_depth_m if given[0] is None else given[0],
                 contacts.self_depth_m if given[1] is None else given[1])
    if given[0] > plan.max_penetration_m:
        return f"penetration {given[0] * 1000:.1f} mm > {plan.max_penetration_m * 1000:g} mm"
    if given[1] > plan.max_penetration_m:
        return f"self-penetration {given[1] * 1000:.1f} mm > {plan.max_penetration_m * 1000:g} mm"
    return None


def _knocked_away(scene: GraspScene, max_translation_m: float, max_rotation_deg: float) -> str | None:
    """Why the object already left its place while the hand closed (before any load), or None."""
    position, quaternion = scene.object_pose()
    moved, turned = float(np.linalg.norm(position)), _rotation_deg(np.array([1.0, 0, 0, 0]), quaternion)
    if moved >= max_translation_m or turned >= max_rotation_deg:
        return f"knocked away while closing (moved {moved * 100:.1f} cm, turned {turned:.0f} deg)"
    return None


def _failed(protocol: str, reason: str) -> ProtocolResult:
    return ProtocolResult(protocol, False, reason, float("nan"), float("nan"),
                          strict_success=False if protocol == "force" else None)


def run_lift(scene: GraspScene, grasp: GraspPose, config: LiftConfig | None = None,
             depths_m: tuple[float | None, float | None] | None = None) -> ProtocolResult:
    config = config or LiftConfig()
    plan = config.plan
    refused = precheck(scene, grasp, plan, depths_m)
    if refused:
        return _failed("lift", refused)
    flat = np.asarray(scene.hand_spec.open_joints)
    start = grasp.wrist_pos - config.backoff_m * grasp.approach
    scene.set_gravity(np.zeros(3))
    try:
        scene.reset(start, grasp.wrist_quat, flat)
        _move(scene, (start, grasp.wrist_pos), grasp.wrist_quat, (flat, flat), plan)
        _move(scene, (grasp.wrist_pos, grasp.wrist_pos), grasp.wrist_quat, (flat, grasp.joints), plan)
        squeeze = _beyond(grasp.joints, flat, plan.squeeze_fraction)
        _move(scene, (grasp.wrist_pos, grasp.wrist_pos), grasp.wrist_quat, (grasp.joints, squeeze), plan)
        links = scene.contacts().object_links
        lost = _knocked_away(scene, config.lost_translation_m, config.lost_rotation_deg)
        if lost:
            return _failed("lift", lost)
        before, _ = scene.object_pose()
        scene.set_gravity(-config.gravity_mps2 * grasp.up)
        top = grasp.wrist_pos + config.lift_height_m * grasp.up
        lift_waypoints = max(1, round(config.lift_s / (plan.steps_per_waypoint * scene.config.timestep_s)))
        _move(scene, (grasp.wrist_pos, top), grasp.wrist_quat, (squeeze, squeeze), plan, lift_waypoints)
        _step(scene, max(1, round(config.hold_s / scene.config.timestep_s)))
    except _Unstable as exc:
        return _failed("lift", str(exc))
    finally:
        scene.set_gravity(np.zeros(3))
    position, quaternion = scene.object_pose()
    rise = float(np.dot(position - before, grasp.up))
    speed = scene.object_speed()
    if rise < config.min_rise_m:
        reason = f"object rose {rise * 100:.1f} cm < {config.min_rise_m * 100:g} cm"
    elif speed > config.max_speed_mps:
        reason = f"object still moving at {speed:.2f} m/s after the hold"
    else:
        reason = "held"
    slip = float(np.linalg.norm(position - (before + config.lift_height_m * grasp.up)))  # vs. held rigidly
    return ProtocolResult("lift", reason == "held", reason, slip, _rotation_deg(np.array([1.0, 0, 0, 0]), quaternion),
                          contact_links=links)


def run_force_closure(scene: GraspScene, grasp: GraspPose, config: ForceClosureConfig | None = None,
                      depths_m: tuple[float | None, float | None] | None = None) -> ProtocolResult:
    import mujoco

    config = config or ForceClosureConfig()
    plan = config.plan
    refused = precheck(scene, grasp, plan, depths_m)
    if refused:
        return _failed("force", refused)
    flat = np.asarray(scene.hand_spec.open_joints)
    pregrasp = _beyond(grasp.joints, flat, -plan.pregrasp_fraction)
    squeeze = _beyond(grasp.joints, flat, plan.squeeze_fraction)
    scene.set_gravity(np.zeros(3))
    try:
        scene.reset(grasp.wrist_pos, grasp.wrist_quat, pregrasp)
        _move(scene, (grasp.wrist_pos, grasp.wrist_pos), grasp.wrist_quat, (pregrasp, grasp.joints), plan)
        _move(scene, (grasp.wrist_pos, grasp.wrist_pos), grasp.wrist_quat, (grasp.joints, squeeze), plan)
    except _Unstable as exc:
        return _failed("force", str(exc))
    links = scene.contacts().object_links
    lost = _knocked_away(scene, config.max_translation_m, config.max_rotation_deg)
    if lost:
        return _failed("force", lost)
    kind = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(scene.model, kind))
    mujoco.mj_getState(scene.model, scene.data, state, kind)
    force_n = config.force_per_kg * scene.config.object_mass_kg
    checks = max(1, round(config.hold_s / (config.check_every_steps * scene.config.timestep_s)))
    identity = np.array([1.0, 0.0, 0.0, 0.0])
    results, failure = [], None
    for name, direction in DIRECTIONS.items():
        mujoco.mj_setState(scene.model, scene.data, state, kind)
        scene.data.xfrc_applied[scene.object_body, :3] = force_n * np.asarray(direction, float)
        worst_move, worst_turn = 0.0, 0.0
        try:
            for _ in range(checks):
                _step(scene, config.check_every_steps)
                position, quaternion = scene.object_pose()
                worst_move = max(worst_move, float(np.linalg.norm(position)))
                worst_turn = max(worst_turn, _rotation_deg(identity, quaternion))
                if worst_move >= config.max_translation_m or worst_turn >= config.max_rotation_deg:
                    break  # DexGraspBench stops at the first failed check
        except _Unstable as exc:
            failure = str(exc)
            worst_move = worst_turn = float("inf")
        ok = worst_move < config.max_translation_m and worst_turn < config.max_rotation_deg
        results.append(DirectionResult(name, worst_move, worst_turn, ok))
        if not ok:
            moved = worst_move >= config.max_translation_m
            failure = failure or (f"moved {worst_move * 100:.1f} cm under {name}" if moved
                                  else f"turned {worst_turn:.0f} deg under {name}")
            break  # ... and at the first failed direction: the verdict is decided
    scene.data.xfrc_applied[:] = 0.0
    success = failure is None
    return ProtocolResult(
        "force", success, "held" if success else failure,
        max(r.displacement_m for r in results), max(r.rotation_deg for r in results),
        strict_success=success and all(r.displacement_m < config.strict_translation_m for r in results),
        directions=tuple(results), contact_links=links,
    )
