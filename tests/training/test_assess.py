"""`assess_grasps`: the one measure-accept-label step of the builder, the demo and evaluation."""

import numpy as np
import pytest
import torch
import trimesh
from flash_training.assess import AcceptanceConfig, AssessedObject, assess_grasps
from flash_training.data.objects import ProceduralSource
from flash_training.data.processing import ProcessingConfig, process_object
from flash_training.data.synthesis import SynthesisConfig, synthesize_grasps

from flash_core.generator import ranking_sdf, required_friction_on_cloud
from flash_core.hands import make_hand
from flash_core.hands.collision import hand_collision


@pytest.fixture(scope="module")
def hand():
    return make_hand("leap")


@pytest.fixture(scope="module")
def can():
    return process_object(
        ProceduralSource(1).load("can_000"), ProcessingConfig(num_points=512, oversample=4, sdf_resolution=32)
    )


@pytest.fixture(scope="module")
def synthesised(hand, can):
    # Four tries per grasp: with two, whether any of six passes is a coin toss (0 to 2 on this can).
    return synthesize_grasps(hand, can.sdf, can.points, can.normals, 6, SynthesisConfig(oversample=4), seed=0,
                             grid=can.sdf_grid)


def test_verdicts_follow_the_measures(hand, can, synthesised):
    x = synthesised.optimized.detach()
    config = AcceptanceConfig()
    a = assess_grasps(hand, x, AssessedObject.from_processed(can), config)
    b, f = len(x), len(hand.finger_names)
    assert a.max_penetration_m.shape == a.self_penetration_m.shape == a.contact_fingers.shape == (b,)
    assert a.finger_distance_m.shape == a.finger_parts.shape == (b, f) and len(a.reasons) == b
    assert a.accepted.any()  # the synthesis's grasps on a can mostly pass
    thumb = hand.finger_names.index("thumb")
    touching = a.finger_distance_m < config.contact_threshold_m
    expected = ((a.max_penetration_m < config.max_penetration_m)
                & (a.self_penetration_m < config.max_self_penetration_m)
                & (touching.sum(1) >= config.min_contact_fingers) & touching[:, thumb]
                & (a.required_friction <= config.max_required_friction))
    np.testing.assert_array_equal(a.accepted, expected)
    assert [r is None for r in a.reasons] == a.accepted.tolist()
    np.testing.assert_array_equal(a.finger_parts >= 0, touching)  # a part exactly where a finger touches
    np.testing.assert_array_equal(a.contact_fingers, touching.sum(1))
    for i in range(b):
        labels = a.part_labels(i)
        assert all((label in can.asset.part_names) == bool(t) for label, t in zip(labels, touching[i], strict=True))
    # The figures are the collision module's (the optimiser's own penetration term is not what is reported).
    collision = hand_collision(hand)
    np.testing.assert_allclose(a.max_penetration_m, collision.penetration(x, can.sdf).max_m.numpy())
    np.testing.assert_array_equal(a.self_penetration_m, collision.self_penetration(x))


def test_each_rejection_names_its_reason(hand, can, synthesised):
    grasps = synthesised.optimized.detach()
    first = int(np.flatnonzero(assess_grasps(hand, grasps, AssessedObject.from_processed(can)).accepted)[0])
    good = grasps[first:first + 1]
    far = good.clone()
    far[:, :3] += 0.5  # half a metre away: no finger touches
    inside = good.clone()
    inside[:, :3] -= 0.02 * torch.nn.functional.normalize(good[:, :3], dim=-1)  # pushed 2 cm towards the axis
    crossed = good.clone()
    names = hand.joint_names
    crossed[:, 9 + names.index("4")], crossed[:, 9 + names.index("8")] = 0.5, -0.5  # middle and ring overlap
    for joint in ("5", "6", "9", "10"):
        crossed[:, 9 + names.index(joint)] = 1.0
    crossed[:, :3] += 0.5
    broken = good.clone()
    broken[0, 0] = float("nan")
    a = assess_grasps(hand, torch.cat([far, inside, crossed, broken]), AssessedObject.from_processed(can))
    assert a.reasons[0] == "fewer than 3 fingers within 3.5 mm"
    assert a.reasons[1] == "penetration >= 2 mm" and a.max_penetration_m[1] >= 0.002
    assert a.self_penetration_m[2] > 0.002 and a.max_penetration_m[2] == 0
    assert a.reasons[3] == "non-finite pose or distance" and not a.accepted.any()
    strict = assess_grasps(hand, good, AssessedObject.from_processed(can),
                           AcceptanceConfig(min_contact_fingers=5))
    assert strict.reasons == ["fewer than 5 fingers within 3.5 mm"]


def test_self_collision_is_a_reason_of_its_own(hand):
    # A box the fingertips rest on, with middle and ring fingers spread into each other.
    box = trimesh.creation.box(extents=(0.3, 0.3, 0.1))
    x = hand.open_pose(1)
    names = hand.joint_names
    x[:, 9 + names.index("4")], x[:, 9 + names.index("8")] = 0.5, -0.5
    a = assess_grasps(hand, x, AssessedObject.from_mesh(box, part_names=("box",)),
                      AcceptanceConfig(max_penetration_m=1.0, exact_up_to_m=1.0, min_contact_fingers=0,
                                       require_thumb=False))
    assert a.reasons == ["self-collision >= 2 mm"]


def test_bad_objects_and_configs_are_refused(hand, can):
    with pytest.raises(ValueError, match="face_parts"):
        AssessedObject(can.sdf, np.zeros(3, np.int64), ("body",))
    with pytest.raises(ValueError, match="index part_names"):
        AssessedObject(can.sdf, np.full(len(can.sdf.faces), 2), ("body",))
    with pytest.raises(ValueError, match="tolerance_m"):
        AcceptanceConfig(tolerance_m=0.0)
    with pytest.raises(ValueError, match="exact_up_to_m"):
        AcceptanceConfig(exact_up_to_m=0.001)
    with pytest.raises(ValueError, match=r"\(B, 25\)"):
        assess_grasps(hand, torch.zeros(2, 24), AssessedObject.from_processed(can))


def test_the_run_time_ranking_judges_friction_from_the_cloud_as_the_assessment_does_from_the_mesh(hand, can,
                                                                                                  synthesised):
    """`GraspGenerator` ranks by the friction a grasp needs, found from the object cloud (no mesh at run time):
    every synthesised grasp the assessment accepts (at most 0.3 on the mesh) needs little friction on the can's
    512-point cloud too (its contacts, normals and centre are the cloud's, so the figures differ by up to ~0.15),
    and a hand moved off the object cannot hold."""
    x = synthesised.optimized.detach()
    a = assess_grasps(hand, x, AssessedObject.from_processed(can), AcceptanceConfig())
    points = torch.as_tensor(can.points, dtype=hand.dtype)
    centre = points.mean(0)
    centred = x.clone()
    centred[:, :3] -= centre
    normals = torch.as_tensor(can.normals, dtype=hand.dtype)
    sdf = ranking_sdf(points - centre, normals)
    on_cloud = required_friction_on_cloud(hand, centred, sdf)
    accepted = np.flatnonzero(a.accepted)
    assert len(accepted)
    assert (on_cloud[accepted] <= 0.45).all(), (a.required_friction, on_cloud)
    away = centred.clone()
    away[:, 2] += 1.0
    assert np.isinf(required_friction_on_cloud(hand, away, sdf)).all()
