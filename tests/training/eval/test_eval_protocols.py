"""The simulated protocols: grasps known to hold pass, bad ones fail for the right reason, runs repeat exactly."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import shifted
from flash_training.eval.protocols import DIRECTIONS, run_force_closure, run_lift
from flash_training.eval.runner import approach_directions, grasp_pose


def test_known_good_grasps_hold_in_both_protocols(cylinder_scene, good_poses):
    for pose in good_poses:
        lift = run_lift(cylinder_scene, pose)
        force = run_force_closure(cylinder_scene, pose)
        assert lift.success, lift.reason
        assert lift.displacement_m < 0.03
        assert force.success and force.strict_success, force.reason
        assert [d.direction for d in force.directions] == list(DIRECTIONS)
        assert all(d.displacement_m < 0.05 and d.rotation_deg < 15 for d in force.directions)
        assert "th_ds" in force.contact_links  # the thumb opposes the fingers


@pytest.mark.parametrize("bad", ["far", "penetrating", "open_hand"])
def test_bad_grasps_fail(cylinder_scene, good_input, leap_approach, bad):
    case = good_input.cases[0]
    good = grasp_pose(case.x, case.up_in_object, leap_approach)
    if bad == "far":  # the whole hand 30 cm away from the object: it closes on air
        x = shifted(case.x, -0.3 * good.approach)
    elif bad == "penetrating":  # the palm pushed 4 cm into the object
        x = shifted(case.x, 0.04 * good.approach)
    else:  # the right wrist pose with a flat, open hand
        x = np.concatenate([case.x[:9], cylinder_scene.hand_spec.open_joints])
    pose = grasp_pose(x, case.up_in_object, leap_approach)
    lift, force = run_lift(cylinder_scene, pose), run_force_closure(cylinder_scene, pose)
    assert not lift.success and not force.success and not force.strict_success
    if bad == "penetrating":
        assert force.reason.startswith("penetration") and lift.reason.startswith("penetration")
        assert not force.directions  # refused before simulation
    if bad == "far":
        assert force.contact_links == () and "under" in force.reason
        assert lift.reason.startswith("object rose")


def test_assessed_depths_replace_the_simulator_precheck(cylinder_scene, good_poses):
    refused = run_force_closure(cylinder_scene, good_poses[0], depths_m=(0.0, 0.012))
    assert not refused.success and refused.reason.startswith("self-penetration 12.0 mm")


def test_runs_repeat_exactly(cylinder_scene, good_poses):
    """Same grasp, same scene, twice, with another grasp simulated in between: identical numbers."""
    first = run_force_closure(cylinder_scene, good_poses[0])
    run_lift(cylinder_scene, good_poses[1])
    again = run_force_closure(cylinder_scene, good_poses[0])
    assert first == again


def test_weaker_squeeze_moves_the_object_more(cylinder_scene, good_poses):
    """The squeeze is what lets a position-controlled hand press: a third of it lets the object give more."""
    from flash_training.eval.protocols import ForceClosureConfig, PlanConfig

    firm = run_force_closure(cylinder_scene, good_poses[0])
    soft = run_force_closure(cylinder_scene, good_poses[0],
                             replace(ForceClosureConfig(), plan=replace(PlanConfig(), squeeze_fraction=0.03)))
    assert soft.displacement_m > firm.displacement_m


def test_a_power_grasp_holds_and_fails_once_moved_across_the_cylinder(power_grasp):
    """Both hands: a power grasp built by hand (palm on a cylinder, fingers closed until they touch) holds in both
    protocols and still holds slid 2 cm along the axis; moved 2 cm towards or away from the palm, or towards the
    fingertips, it fails (the wrapped fingers then cut into the object)."""
    hand, scene, x = power_grasp
    up = np.array([0.0, 0.0, 1.0])
    approach = approach_directions({hand})[hand]
    for offset_m in ([0, 0, 0], [0, 0, 0.02], [0, 0, -0.02]):
        pose = grasp_pose(shifted(x, np.array(offset_m, float)), up, approach)
        force = run_force_closure(scene, pose)
        assert force.success and force.strict_success, (offset_m, force.reason)
        assert len(force.directions) == len(DIRECTIONS)
        assert run_lift(scene, pose).success, offset_m
    for offset_m in ([0.02, 0, 0], [-0.02, 0, 0], [0, -0.02, 0]):
        force = run_force_closure(scene, grasp_pose(shifted(x, np.array(offset_m, float)), up, approach))
        assert not force.success, offset_m


def test_a_failed_direction_ends_the_test(cylinder_scene, good_input, leap_approach):
    """DexGraspBench stops at the first failed direction: the verdict is decided and the rest would cost time."""
    case = good_input.cases[0]
    far = grasp_pose(shifted(case.x, -0.3 * grasp_pose(case.x, case.up_in_object, leap_approach).approach),
                     case.up_in_object, leap_approach)
    result = run_force_closure(cylinder_scene, far)
    assert [d.direction for d in result.directions] == ["-x"] and not result.directions[0].success
