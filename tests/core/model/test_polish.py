"""The physics polish: less penetration on a hand pressed into a sampled sphere, the grasp kept near where it was,
finite poses whatever happens during the optimisation, and the generator's switch."""

import numpy as np
import pytest
import torch
from tiny_models import PROMPTS, build_model, randomise_head, sphere_cloud, tiny_config

from flash_core.flow.solver import SolverConfig
from flash_core.generator import GraspGenerator
from flash_core.model.polish import PolishConfig, cloud_sdf, polish_grasps

RADIUS_M = 0.04


def sphere_depth(hand, x: torch.Tensor) -> torch.Tensor:
    """(B,) exact deepest hand surface point inside the sphere of radius RADIUS_M at the origin."""
    return torch.relu(RADIUS_M - hand.surface_points(x).norm(dim=-1)).amax(-1)


def pressed_in(hand, depth_m: float) -> torch.Tensor:
    """An open hand whose palm faces the sphere and whose deepest point is `depth_m` inside it (1, 25)."""
    palm = hand.palm_frame()
    x = hand.open_pose(1)

    def at(offset: float) -> torch.Tensor:
        moved = x.clone()
        moved[0, :3] = -palm.grasp_centre_m - palm.normal * offset  # palm side towards the centre
        return moved

    low, high = -0.03, 0.02  # depth falls monotonically from 25 mm to none over this range (LEAP, 4 cm sphere)
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if sphere_depth(hand, at(middle)) > depth_m else (low, middle)
    return at(high)


def test_polish_pulls_a_penetrating_hand_out_and_keeps_it_near(leap_hand):
    x = pressed_in(leap_hand, 0.006)
    assert sphere_depth(leap_hand, x) == pytest.approx(0.006, abs=2e-4)
    cloud = sphere_cloud(2000, RADIUS_M)
    polished = polish_grasps(leap_hand, x, cloud_sdf(cloud, None, PolishConfig()), PolishConfig())
    assert sphere_depth(leap_hand, polished) < 0.002
    assert (polished[0, :3] - x[0, :3]).norm() < 0.015  # moved out, not away
    assert torch.isfinite(polished).all()


def test_a_grasp_already_clear_of_the_object_is_not_made_worse_and_zero_steps_change_nothing(leap_hand):
    clear = pressed_in(leap_hand, 0.0)
    clear[0, 2] += 0.1  # 10 cm out: nothing near, nothing to do
    config = PolishConfig()
    sdf = cloud_sdf(sphere_cloud(1000, RADIUS_M), None, config)
    assert torch.equal(polish_grasps(leap_hand, clear, sdf, config), clear)
    x = pressed_in(leap_hand, 0.004)
    assert torch.equal(polish_grasps(leap_hand, x, sdf, PolishConfig(steps=0)), x)


def test_poses_stay_finite_on_a_degenerate_cloud_and_under_wild_steps(leap_hand):
    x = torch.cat((pressed_in(leap_hand, 0.005), pressed_in(leap_hand, 0.002)))
    wild = PolishConfig(steps=5, lr_translation_m=10.0, lr_rotation=1e3, lr_joints_rad=10.0)
    for cloud in (torch.zeros(200, 3), sphere_cloud(500, RADIUS_M)):
        polished = polish_grasps(leap_hand, x, cloud_sdf(cloud, None, wild), wild)
        assert polished.shape == x.shape and torch.isfinite(polished).all()
    with pytest.raises(ValueError, match="NaN"):
        polish_grasps(leap_hand, torch.full_like(x, float("nan")), cloud_sdf(sphere_cloud(100), None, wild))


def test_the_generator_polishes_on_request(leap_hand):
    model = randomise_head(build_model(tiny_config("compact"), leap_hand)).eval()
    generator = GraspGenerator(model, leap_hand, SolverConfig(method="euler", steps=2))
    cloud = sphere_cloud(400).numpy()
    raw = generator.generate(PROMPTS[0], cloud, num_grasps=4, seed=0)
    polished = generator.generate(PROMPTS[0], cloud, num_grasps=4, seed=0, polish=True)
    assert len(polished) == 4 and all(np.isfinite(g.vector).all() for g in polished)
    # Same flow samples; the polish moved at least one of them (the untrained field leaves hands in the sphere).
    assert not np.allclose(sorted(g.score for g in raw), sorted(g.score for g in polished))
