"""The validator (2 mm point-motion sampling, pairs pre-filtered by bounding volumes, fixed pairs checked once)
gives the same verdicts as an independent dense check: every pair at every state 1 mm of motion apart (coal),
and never passes a trajectory in which MuJoCo, on the original meshes, finds contact."""

import numpy as np
import pytest
from planning_reference import MujocoContacts, box_cloud

from flash_core.planning import (
    HOME_ARM_Q_RAD,
    CollisionChecker,
    JointTrajectory,
    Scene,
    SceneConfig,
    TableConfig,
    solve_ik,
    validate_trajectory,
)

GRASP_HAND_Q = np.array([0.8, 0.0, 0.6, 0.4] * 3 + [1.2, 0.5, 0.3, 0.3])
BOX = box_cloud((0.5, 0.0, 0.06), (0.03, 0.03, 0.06), n=300)
# Joint-space L1 step for the reference: no collision point lies farther than 1.3 m from any joint axis of the
# Gen3 + LEAP, so a step of 0.00075 rad moves no point more than 1 mm.
REFERENCE_STEP_RAD = 0.00075


def _pole(robot, radial_offset_m):
    """(60, 3) vertical pole beside the home palm, radial_offset_m further out from the base axis."""
    palm = robot.frame_pose(robot.full_q(HOME_ARM_Q_RAD), robot.hand_root_frame)[:3, 3]
    outward = np.array([palm[0], palm[1], 0.0]) / np.linalg.norm(palm[:2])
    base = palm + radial_offset_m * outward
    return np.stack([np.full(60, base[0]), np.full(60, base[1]), np.linspace(0.05, 0.8, 60)], axis=1)


def _trajectory(names, waypoints):
    waypoints = np.asarray(waypoints, dtype=float)
    zeros = np.zeros_like(waypoints)
    return JointTrajectory(tuple(names), waypoints, zeros, zeros, np.linspace(0.0, 5.0, len(waypoints)))


def _cases(robot):
    """(name, cloud, trajectory, held_q (23,), allow_hand_object)."""
    arm, hand = robot.arm_joint_names, robot.hand_joint_names
    sweep_start, sweep_end = HOME_ARM_Q_RAD.copy(), HOME_ARM_Q_RAD.copy()
    sweep_start[0], sweep_end[0] = -0.8, 0.8
    into_table = np.array([0.0, 1.6, 0.0, 1.2, 0.0, 1.0, 0.0])
    checker = CollisionChecker(robot, Scene(SceneConfig(table=TableConfig()), BOX))
    grasp = np.eye(4)
    grasp[:3, 3] = (0.46, 0.0, 0.165)
    grasp_arm = solve_ik(robot, grasp, HOME_ARM_Q_RAD, GRASP_HAND_Q,
                         is_valid=lambda q: checker.is_valid(q, allow_hand_object=True))[0]
    cases = []
    for offset in (0.0, 0.06, 0.12, 0.4):
        cases.append((f"joint-1 sweep, pole +{offset} m", _pole(robot, offset),
                      _trajectory(arm, [sweep_start, sweep_end]), robot.full_q(sweep_start), False))
    cases += [
        ("several joints towards the table", np.zeros((0, 3)),
         _trajectory(arm, [HOME_ARM_Q_RAD, HOME_ARM_Q_RAD + (0.3, 0.6, 0.2, 0.9, -0.4, 0.3, 0.5), into_table]),
         robot.full_q(HOME_ARM_Q_RAD), False),
        ("short clear move", np.zeros((0, 3)),
         _trajectory(arm, [HOME_ARM_Q_RAD, HOME_ARM_Q_RAD + (0.2, -0.1, 0.1, 0.2, 0.3, -0.2, 0.4)]),
         robot.full_q(HOME_ARM_Q_RAD), False),
        ("closing on the object, contact allowed", BOX, _trajectory(hand, [np.zeros(16), GRASP_HAND_Q]),
         robot.full_q(grasp_arm), True),
        ("closing on the object, contact forbidden", BOX, _trajectory(hand, [np.zeros(16), GRASP_HAND_Q]),
         robot.full_q(grasp_arm), False),
        ("closing while the arm is in the table", np.zeros((0, 3)), _trajectory(hand, [np.zeros(16), GRASP_HAND_Q]),
         robot.full_q(into_table), True),
        ("closing in free space", np.zeros((0, 3)), _trajectory(hand, [np.zeros(16), GRASP_HAND_Q]),
         robot.full_q(HOME_ARM_Q_RAD), False),
    ]
    return cases


def _dense_states(trajectory, held_q, robot):
    """(K, 23) states along the polyline, at most REFERENCE_STEP_RAD apart in L1."""
    index = [robot.joint_names.index(name) for name in trajectory.joint_names]
    states = []
    for a, b in zip(trajectory.positions[:-1], trajectory.positions[1:]):
        n = max(1, int(np.ceil(np.abs(b - a).sum() / REFERENCE_STEP_RAD)))
        for s in np.linspace(0.0, 1.0, n + 1):
            q = np.array(held_q, dtype=float)
            q[index] = a + s * (b - a)
            states.append(q)
    return np.array(states)


def _coal_in_contact(robot, checker, states, allow_hand_object):
    import pinocchio as pin

    gdata = checker.geometry.createData()  # every pair active, no margin
    for k in (checker.hand_object_pair_indices if allow_hand_object else ()):
        gdata.deactivateCollisionPair(int(k))
    data = robot.model.createData()
    return any(pin.computeCollisions(robot.model, data, checker.geometry, gdata, q, True) for q in states)


@pytest.fixture(scope="module")
def verdicts(robot):
    rows = []
    for name, cloud, trajectory, held_q, allow in _cases(robot):
        scene = Scene(SceneConfig(table=TableConfig()), cloud)
        checker = CollisionChecker(robot, scene)
        report = validate_trajectory(trajectory, checker, held_q, allow_hand_object=allow)
        states = _dense_states(trajectory, held_q, robot)
        mujoco = MujocoContacts(scene.config.table, cloud)
        mujoco_contact = any(mujoco.contacts(dict(zip(robot.joint_names, q)), allow_hand_object=allow)
                             for q in states)
        rows.append((name, report.ok, not _coal_in_contact(robot, checker, states, allow), not mujoco_contact))
    return rows


def test_validator_agrees_with_the_dense_coal_check(verdicts):
    disagreements = [(name, ok, reference) for name, ok, reference, _ in verdicts if ok != reference]
    assert not disagreements, disagreements


def test_validator_never_passes_what_mujoco_finds_in_contact(verdicts):
    assert not [name for name, ok, _, mujoco_clear in verdicts if ok and not mujoco_clear]


def test_the_cases_hold_both_verdicts(verdicts):
    outcomes = [ok for _, ok, _, _ in verdicts]
    assert sum(outcomes) >= 3 and len(outcomes) - sum(outcomes) >= 3, verdicts
