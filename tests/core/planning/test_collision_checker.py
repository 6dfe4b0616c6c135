"""The planner's collision checker against MuJoCo's collision pipeline, margins, and scene input checks."""

import numpy as np
import pytest
from planning_reference import MujocoContacts, box_cloud

from flash_core.planning import CollisionChecker, CollisionConfig, Scene, SceneConfig, TableConfig

OBJECT = box_cloud((0.5, 0.0, 0.06), (0.03, 0.03, 0.06), n=400)


def _names(robot, q):
    return dict(zip(robot.joint_names, q))


def test_checker_is_conservative_against_mujoco(robot):
    """Every configuration MuJoCo finds in penetration, the checker (hulls, margins) rejects too."""
    scene = Scene(SceneConfig(), OBJECT)
    checker = CollisionChecker(robot, scene, CollisionConfig(environment_margin_m=0.0))
    reference = MujocoContacts(scene.config.table, OBJECT)
    rng = np.random.default_rng(2)
    n_contact = n_valid = 0
    for _ in range(400):
        q = rng.uniform(robot.lower_rad, robot.upper_rad)
        contacts = reference.contacts(_names(robot, q))
        valid = checker.is_valid(q)
        n_contact += bool(contacts)
        n_valid += valid
        assert not (contacts and valid), f"checker missed MuJoCo contacts {contacts}"
    assert n_contact > 40 and n_valid > 40  # both outcomes well represented


def _switch_height(robot, q, margin_m):
    """Highest table top (m) at which q is still valid, by bisection."""
    low, high = -0.5, 1.0
    for _ in range(30):
        mid = 0.5 * (low + high)
        scene = Scene(SceneConfig(table=TableConfig(top_z_m=mid, size_xy_m=(3.0, 3.0))))
        checker = CollisionChecker(robot, scene, CollisionConfig(environment_margin_m=margin_m))
        low, high = (mid, high) if checker.is_valid(q) else (low, mid)
    return low


def test_environment_margin_keeps_one_centimetre(robot):
    q = robot.full_q(np.array([0.0, 0.6, 0.0, 1.2, 0.0, 1.0, 0.0]))
    touching = _switch_height(robot, q, 0.0)
    padded = _switch_height(robot, q, 0.01)
    assert touching - padded == pytest.approx(0.01, abs=1e-4)
    # MuJoCo agrees on where contact starts (the checker's hulls may only be larger, never smaller).
    for offset, expect_contact in ((+0.002, True), (-0.002, False)):
        table = TableConfig(top_z_m=touching + offset, size_xy_m=(3.0, 3.0))
        contacts = MujocoContacts(table, np.zeros((0, 3))).contacts(_names(robot, q))
        assert bool(contacts) == expect_contact, (offset, contacts)


def test_hand_object_contact_can_be_allowed(robot):
    """Fingers dipped into the object's top: rejected normally, accepted when hand-object contact is allowed."""
    from flash_core.planning import HOME_ARM_Q_RAD, solve_ik

    scene = Scene(SceneConfig(), OBJECT)
    checker = CollisionChecker(robot, scene)
    palm_down = np.eye(4)  # palm normal (-z of the hand root) pointing down, fingers along +x
    palm_down[:3, 3] = (0.45, 0.0, 0.13)
    (arm_q, *_) = solve_ik(robot, palm_down, HOME_ARM_Q_RAD)
    q = robot.full_q(arm_q)
    hits = checker.colliding_pairs(q)
    assert hits and all(b == "object" and robot.is_hand_link(a) for a, b in hits)
    assert not checker.is_valid(q) and checker.is_valid(q, allow_hand_object=True)
    assert MujocoContacts(scene.config.table, OBJECT).contacts(_names(robot, q))  # MuJoCo sees them too
    assert not MujocoContacts(scene.config.table, OBJECT).contacts(_names(robot, q), allow_hand_object=True)


def test_empty_cloud_means_no_object(robot):
    scene = Scene(SceneConfig(), np.zeros((0, 3)))
    assert not scene.has_object
    checker = CollisionChecker(robot, scene)
    assert all(b != "object" for _, b in checker.pair_names)


@pytest.mark.parametrize("cloud", [np.full((10, 3), np.nan), np.zeros((10, 2)), np.zeros(3)])
def test_bad_cloud_is_rejected(cloud):
    with pytest.raises(ValueError, match="object cloud"):
        Scene(SceneConfig(), cloud)


def test_never_colliding_pairs_are_skipped_and_stay_apart(robot):
    """The SRDF's "Never" pairs are left out, and on the checker's own hulls they stay apart at random states."""
    import pinocchio as pin

    never = robot.never_colliding_link_pairs
    skipping = CollisionChecker(robot, Scene(SceneConfig()))
    full = CollisionChecker(robot, Scene(SceneConfig()), CollisionConfig(skip_never_colliding=False))
    skipped = [k for k, names in enumerate(full.pair_names) if frozenset(names) in never]
    assert len(skipped) > 30 and not any(frozenset(names) in never for names in skipping.pair_names)
    assert full.n_pairs - skipping.n_pairs == len(skipped)
    gdata = full.geometry.createData()
    for k in set(range(full.n_pairs)) - set(skipped):
        gdata.deactivateCollisionPair(k)
    data = robot.model.createData()
    rng = np.random.default_rng(3)
    states = rng.uniform(robot.lower_rad, robot.upper_rad, (2000, len(robot.lower_rad)))
    assert not any(pin.computeCollisions(robot.model, data, full.geometry, gdata, q, True) for q in states)
