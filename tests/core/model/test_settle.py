"""Settling grasps on the cloud: a hand sunk into a sampled sphere backs out along its approach until the open hand
clears it, a hovering one comes in, the fingers close until they touch (checked on the exact sphere), what the
hand reaches nothing with is left alone, and the generator's switch and opposition-first ranking."""

import numpy as np
import pytest
import torch
from tiny_models import PROMPTS, build_model, randomise_head, sphere_cloud, tiny_config

from flash_core.flow.solver import SolverConfig
from flash_core.generator import MIN_CONTACT_FINGERS, NO_OPPOSITION_PENALTY, OPPOSING_FINGER, GraspGenerator
from flash_core.geometry.cloud_sdf import CloudSDF
from flash_core.geometry.rotations import rot6d_to_matrix
from flash_core.hands.link_surface import per_link_min
from flash_core.model.settle import SettleConfig, cloud_sdf, finger_geometry, settle_grasps

RADIUS_M = 0.04


def sphere_clearance(hand, x: torch.Tensor) -> torch.Tensor:
    """(B, L) exact distance of each link's collision surface to the sphere at the origin (negative inside)."""
    geometry = finger_geometry(hand, SettleConfig().surface_points)
    distance = geometry.surface.move(hand.link_poses(x)).norm(dim=-1) - RADIUS_M  # (B, N)
    return per_link_min(distance, geometry.surface.link_index, len(hand.link_names))


def facing(hand, gap_m: float) -> torch.Tensor:
    """(1, 25): the palm facing the sphere's centre, the open hand's exact clearance `gap_m` (negative: sunk in),
    joints curled well past the pre-grasp shape (a network's grasp of a smaller object)."""
    palm = hand.palm_frame()
    x = hand.open_pose(1)

    def at(back_m: float) -> torch.Tensor:
        moved = x.clone()
        moved[0, :3] = -palm.grasp_centre_m - palm.normal * back_m  # the sphere on the palm side
        return moved

    low, high = -0.1, 0.6  # the clearance grows with the distance backed out
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if sphere_clearance(hand, at(middle)).amin() < gap_m else (low, middle)
    x = at(high)
    x[0, 9:] = hand.clamp_joints(hand.open_joints() + 3.0 * (hand.pregrasp_joints() - hand.open_joints()))
    return x


def approach_of(hand, x: torch.Tensor) -> torch.Tensor:
    return rot6d_to_matrix(x[:, 3:9]) @ hand.palm_frame().normal


def test_a_sunk_hand_backs_out_along_its_approach_and_closes_onto_the_surface(leap_hand):
    config = SettleConfig()
    x = facing(leap_hand, -0.012)  # the open hand 12 mm deep in the sphere
    opened = x.clone()
    opened[:, 9:] = leap_hand.open_joints()
    settled = settle_grasps(leap_hand, x, cloud_sdf(sphere_cloud(3000, RADIUS_M), None, config), config)
    moved = settled.x[0, :3] - x[0, :3]
    approach = approach_of(leap_hand, x)[0]
    assert settled.wrist_shift_m[0] < -0.005  # backed out ...
    assert torch.allclose(moved, settled.wrist_shift_m[0] * approach, atol=1e-6)  # ... along the approach only
    assert torch.equal(settled.x[:, 3:9], x[:, 3:9])
    opened[:, :3] = settled.x[:, :3]
    assert sphere_clearance(leap_hand, opened).amin() == pytest.approx(config.clearance_m, abs=1e-3)  # the cloud's
    # surface sits within a millimetre of the sphere's
    clearance = sphere_clearance(leap_hand, settled.x)[0]  # (L,) closed
    assert clearance.amin() > -0.0015  # no link sunk in
    geometry = finger_geometry(leap_hand, config.surface_points)
    for f in torch.nonzero(settled.touching[0]).squeeze(1).tolist():
        assert clearance[geometry.link_finger == f].amin() < 0.003  # a touching finger is on the sphere
    assert settled.touching[0].sum() >= 2
    between = (settled.x[0, 9:] - leap_hand.open_joints()) / (x[0, 9:] - leap_hand.open_joints())
    moving = (x[0, 9:] - leap_hand.open_joints()).abs() > 1e-6
    assert (between[moving] <= 1.0 + config.overshoot + 1e-5).all() and (between[moving] >= -1e-6).all()
    assert (between[moving] < 1.0 - 1e-3).any()  # some joints stopped on the surface before the network's angle


def test_a_hovering_hand_comes_in_and_one_out_of_reach_is_left_as_it_was(leap_hand):
    config = SettleConfig()
    sdf = cloud_sdf(sphere_cloud(3000, RADIUS_M), None, config)
    near, far = facing(leap_hand, 0.015), facing(leap_hand, 0.3)
    settled = settle_grasps(leap_hand, torch.cat((near, far)), sdf, config)
    assert 0 < settled.wrist_shift_m[0] <= config.max_advance_m
    opened = settled.x[:1].clone()
    opened[:, 9:] = leap_hand.open_joints()
    assert sphere_clearance(leap_hand, opened).amin() == pytest.approx(config.clearance_m, abs=1e-3)
    assert settled.wrist_shift_m[1] == pytest.approx(config.max_advance_m)
    assert torch.allclose(settled.x[1, 9:], far[0, 9:])  # touched nothing: the network's angles
    assert not settled.touching[1].any()


class ExactCloudSDF(CloudSDF):
    """The reference: every hand point searched, every value exact."""

    def bounded(self, query: torch.Tensor) -> torch.Tensor:
        return self(query)


@pytest.mark.parametrize("on_table", [False, True])
def test_settling_on_exact_values_only_where_they_matter_changes_nothing(leap_hand, on_table):
    """Hands facing the sphere from all sides, sunk in, touching, hovering and out of reach (the wrist's far
    case): the same grasps as when every point of every hand is searched."""
    from flash_core.geometry.rotations import matrix_to_rot6d
    from flash_core.geometry.support_plane import SupportPlane

    config = SettleConfig()
    x = torch.cat([facing(leap_hand, gap) for gap in (-0.012, -0.004, 0.0, 0.015, 0.05)])  # (5, 25)
    turn = rot6d_to_matrix(torch.randn(len(x), 6, generator=torch.Generator().manual_seed(0)))  # about the centre
    x = torch.cat(((turn @ x[:, :3, None])[..., 0], matrix_to_rot6d(turn @ rot6d_to_matrix(x[:, 3:9])), x[:, 9:]), -1)
    table = SupportPlane(torch.tensor([0.0, 0.0, 1.0]), RADIUS_M) if on_table else None
    cloud = sphere_cloud(3000, RADIUS_M)
    fast = settle_grasps(leap_hand, x, cloud_sdf(cloud, None, config), config, table)
    reference = settle_grasps(leap_hand, x, ExactCloudSDF(cloud, None, config.neighbors,
                                                          max_distance_m=config.max_distance_m), config, table)
    torch.testing.assert_close(fast.x, reference.x, atol=1e-6, rtol=0)
    torch.testing.assert_close(fast.wrist_shift_m, reference.wrist_shift_m, atol=1e-6, rtol=0)
    assert torch.equal(fast.touching, reference.touching)
    assert fast.touching.any() and (fast.wrist_shift_m < 0).any()  # backed out, closed onto the surface
    assert on_table or (fast.wrist_shift_m > 0).any()  # came in (on the table these are held off it)


def test_bad_input_and_config_are_refused(leap_hand):
    sdf = cloud_sdf(sphere_cloud(200, RADIUS_M), None, SettleConfig())
    with pytest.raises(ValueError, match="NaN"):
        settle_grasps(leap_hand, torch.full((1, 25), float("nan")), sdf)
    with pytest.raises(ValueError, match="closing_samples"):
        SettleConfig(closing_samples=1)
    with pytest.raises(ValueError, match="contact_margin_m"):  # contact judged where the surface is not exact
        settle_grasps(leap_hand, facing(leap_hand, 0.0), sdf, SettleConfig(contact_margin_m=0.02))


def test_the_generator_settles_on_request_and_ranks_opposed_grasps_first(leap_hand):
    model = randomise_head(build_model(tiny_config("compact"), leap_hand)).eval()
    generator = GraspGenerator(model, leap_hand, SolverConfig(method="euler", steps=2))
    cloud = sphere_cloud(400).numpy()
    raw = generator.generate(PROMPTS[0], cloud, num_grasps=6, seed=0)
    settled = generator.generate(PROMPTS[0], cloud, num_grasps=6, seed=0, settle=True)
    assert len(settled) == 6 and all(np.isfinite(g.vector).all() for g in settled)
    assert not np.allclose(sorted(g.score for g in raw), sorted(g.score for g in settled))
    for grasps in (raw, settled):
        opposed = [OPPOSING_FINGER in g.contact_fingers and len(g.contact_fingers) >= MIN_CONTACT_FINGERS
                   for g in grasps]
        assert opposed == sorted(opposed, reverse=True)  # every opposed grasp first
        assert all(g.score <= -NO_OPPOSITION_PENALTY for g, o in zip(grasps, opposed, strict=True) if not o)


def test_the_generator_keeps_settled_hands_above_the_table_the_object_rests_on(leap_hand):
    from flash_core.geometry.support_plane import SupportPlane

    model = randomise_head(build_model(tiny_config("compact"), leap_hand)).eval()
    generator = GraspGenerator(model, leap_hand, SolverConfig(method="euler", steps=2))
    cloud = sphere_cloud(400).numpy() + [0.5, 0.1, 0.04]  # a ball resting on a table at z = 0
    table = SupportPlane(torch.tensor([0.0, 0.0, 1.0]), 0.0)
    grasps = generator.generate(PROMPTS[0], cloud, num_grasps=6, seed=0, settle=True, support_plane=table)
    x = torch.tensor(np.stack([g.vector for g in grasps]), dtype=leap_hand.dtype)
    assert leap_hand.surface_points(x)[..., 2].amin() > -1e-3  # no hand goes through the table
    free = generator.generate(PROMPTS[0], cloud, num_grasps=6, seed=0, settle=True)
    x = torch.tensor(np.stack([g.vector for g in free]), dtype=leap_hand.dtype)
    assert leap_hand.surface_points(x)[..., 2].amin() < -0.01  # without it, hands reach under the ball


@pytest.mark.parametrize("tilt", [0.0, 0.3])
def test_on_a_table_the_hand_is_raised_off_it_and_never_slides_down_into_it(leap_hand, tilt):
    from flash_core.geometry.support_plane import SupportPlane

    config = SettleConfig()
    x = facing(leap_hand, 0.01).repeat(2, 1)  # the open hand 1 cm off the sphere
    geometry = finger_geometry(leap_hand, config.surface_points)
    opened = x.clone()
    opened[:, 9:] = leap_hand.open_joints()
    normal = torch.tensor([np.sin(tilt), 0.0, np.cos(tilt)], dtype=torch.float32)
    surface = geometry.surface.move(leap_hand.link_poses(opened))  # (2, N, 3)
    lowest = (surface @ normal).amin(-1)  # a table through the hand's middle: the open hand is half below it
    highest = (surface @ normal).amax(-1)
    table = SupportPlane(normal, -float((lowest[0] + highest[0]) / 2))
    settled = settle_grasps(leap_hand, x, cloud_sdf(sphere_cloud(3000, RADIUS_M), None, config), config, table)
    opened_after = settled.x.clone()
    opened_after[:, 9:] = leap_hand.open_joints()
    heights = table.height_m(geometry.surface.move(leap_hand.link_poses(opened_after)))
    assert heights.amin() > config.support_clearance_m - 1e-4  # the open hand clears the table
    closed = table.height_m(geometry.surface.move(leap_hand.link_poses(settled.x)))
    assert closed.amin() > -1e-3  # the fingers stopped on the table, not through it
    without = settle_grasps(leap_hand, x, cloud_sdf(sphere_cloud(3000, RADIUS_M), None, config), config)
    assert table.height_m(geometry.surface.move(leap_hand.link_poses(without.x))).amin() < 0  # it matters


def test_support_plane_from_a_perception_pose():
    from flash_core.geometry.support_plane import SupportPlane

    pose = np.eye(4)
    pose[:3, 3] = (0.5, 0.0, 0.02)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])  # z pointing down: flipped to up
    plane = SupportPlane.from_pose(pose)
    points = torch.tensor([[0.3, 0.2, 0.05], [0.1, 0.0, 0.0]])
    torch.testing.assert_close(plane.height_m(points), torch.tensor([0.03, -0.02]))
    shifted = plane.shifted(torch.tensor([0.1, 0.0, 0.01]))
    torch.testing.assert_close(shifted.height_m(points - torch.tensor([0.1, 0.0, 0.01])), plane.height_m(points))
    with pytest.raises(ValueError, match="normal"):
        SupportPlane(torch.zeros(3), 0.0)
