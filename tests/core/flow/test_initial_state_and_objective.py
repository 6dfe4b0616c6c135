"""Initial hand distribution (geometry checked on the real LEAP model) and the flow-matching objective."""

import itertools
import math
from types import SimpleNamespace

import pytest
import torch

from flash_core.flow.initial_state import InitialStateConfig, InitialStateSampler, reflect_into
from flash_core.flow.objective import FlowBatch, ObjectiveConfig, flow_matching_loss, ot_pairing, penetration_depth
from flash_core.flow.path import WRIST_DIM, FlowPath
from flash_core.geometry.rotations import rot6d_to_matrix
from flash_core.hands import make_hand


@pytest.fixture(scope="module")
def hand():
    return make_hand("leap", num_surface_points=256, allow_primitives=True)


def test_straight_path_interpolates_and_has_constant_velocity():
    x_0, x_1 = torch.zeros(3, 12), torch.arange(36.0).reshape(3, 12)
    sample = FlowPath().sample(x_0, x_1, torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(sample.x_t, torch.stack((x_0[0], 0.5 * x_1[1], x_1[2])))
    torch.testing.assert_close(sample.dx_t, x_1 - x_0)  # at t = 1 too: adaptive solvers evaluate there
    with pytest.raises(ValueError, match=r"\(B,\)|\(3,\)"):
        FlowPath().sample(x_0, x_1, torch.zeros(2))


def test_wrist_first_path_moves_the_wrist_then_the_joints():
    path = FlowPath(wrist_end_t=0.75, joints_start_t=0.75)
    x_0, x_1 = torch.zeros(4, 25), torch.randn(4, 25, generator=torch.Generator().manual_seed(0))
    sample = path.sample(x_0, x_1, torch.tensor([0.375, 0.75, 0.875, 1.0]))
    torch.testing.assert_close(sample.x_t[:, :WRIST_DIM], x_1[:, :WRIST_DIM] * torch.tensor([[0.5], [1], [1], [1]]))
    torch.testing.assert_close(sample.x_t[:, WRIST_DIM:], x_1[:, WRIST_DIM:] * torch.tensor([[0], [0], [0.5], [1]]))
    # Right-continuous rates: at the switch the wrist already stands and the joints already move.
    rate = path.rate(torch.tensor([0.375, 0.75]), 25)
    torch.testing.assert_close(rate[:, 0], torch.tensor([4 / 3, 0.0]))
    torch.testing.assert_close(rate[:, -1], torch.tensor([0.0, 4.0]))
    # The one-step endpoint estimate from the path's own velocity is the grasp wherever a part is moving.
    moving = path.endpoint(sample.x_t, sample.dx_t, sample.t)
    torch.testing.assert_close(moving[:2, :WRIST_DIM], x_1[:2, :WRIST_DIM])
    torch.testing.assert_close(moving[1:, WRIST_DIM:], x_1[1:, WRIST_DIM:])


@pytest.mark.parametrize("steps", [4, 8, 16])
def test_euler_on_a_grid_through_the_switch_ends_exactly_on_the_grasp(steps):
    path = FlowPath(wrist_end_t=0.75, joints_start_t=0.75)
    x_0, x_1 = torch.randn(2, 3, 25, generator=torch.Generator().manual_seed(1))
    x = x_0.clone()
    for k in range(steps):  # the true velocity field of this one pair, as a perfectly trained network would give
        x = x + path.rate(torch.full((3,), k / steps), 25) * (x_1 - x_0) / steps
    torch.testing.assert_close(x, x_1)


@pytest.mark.parametrize("kwargs", [{"wrist_end_t": 0.0}, {"wrist_end_t": 1.5}, {"joints_start_t": 1.0},
                                    {"joints_start_t": -0.1}])
def test_path_rejects_times_outside_the_unit_interval(kwargs):
    with pytest.raises(ValueError, match="must be in"):
        FlowPath(**kwargs)


def test_initial_hands_sit_on_the_sphere_with_the_palm_towards_the_object(hand):
    config = InitialStateConfig(radius_m=0.25, translation_jitter_m=0.0, rotation_jitter_rad=0.0, joint_jitter_rad=0.0)
    sampler = InitialStateSampler.from_hand(hand, config)
    x = sampler.sample(512, generator=torch.Generator().manual_seed(0))
    rotation = rot6d_to_matrix(x[:, 3:9])
    cloud_centre = hand.surface_points(x).mean(1)  # (512, 3) the open hand's centre, object at the origin
    torch.testing.assert_close(cloud_centre.norm(dim=-1), torch.full((512,), 0.25), atol=1e-5, rtol=0)
    palm_normal_world = rotation @ sampler.palm_normal
    facing = (palm_normal_world * -torch.nn.functional.normalize(cloud_centre, dim=-1)).sum(-1)
    assert facing.min() > 0.999  # every palm looks at the centre
    torch.testing.assert_close(x[:, 9:], hand.open_joints().expand(512, -1))
    # Directions cover the sphere: their mean is near zero and rolls differ.
    # 512 uniform directions: |mean| ~ 0.04
    assert torch.nn.functional.normalize(cloud_centre, dim=-1).mean(0).norm() < 0.15
    assert rotation[:, :, 0].std(0).min() > 0.2


@pytest.mark.parametrize("up", [(0.0, 0.0, 1.0), (0.0, -0.6, 0.8), (0.0, 0.0, -1.0)])
def test_initial_hands_start_above_a_support_plane(hand, up):
    config = InitialStateConfig(radius_m=0.25, translation_jitter_m=0.0, rotation_jitter_rad=0.0, joint_jitter_rad=0.0)
    sampler = InitialStateSampler.from_hand(hand, config)
    up = torch.tensor(up)
    x = sampler.sample(2048, generator=torch.Generator().manual_seed(0), support_normal=up)
    direction = torch.nn.functional.normalize(hand.surface_points(x).mean(1), dim=-1)  # (2048, 3)
    height = direction @ up
    low = math.sin(config.min_elevation_rad)
    assert height.min() > low - 1e-5  # none below 20 degrees of elevation
    # Uniform on the cap: the height is uniform in [sin(20 deg), 1] (mean and spread), azimuths all round.
    assert abs(height.mean() - (1 + low) / 2) < 0.02 and abs(height.std() - (1 - low) / math.sqrt(12)) < 0.02
    sideways = direction - height[:, None] * up
    assert sideways.mean(0).norm() < 0.05
    with pytest.raises(ValueError, match="support_normal"):
        sampler.sample(4, support_normal=torch.zeros(3))
    with pytest.raises(ValueError, match="min_elevation_rad"):
        InitialStateConfig(min_elevation_rad=2.0)


def test_initial_hands_jitter_and_respect_joint_limits(hand):
    sampler = InitialStateSampler.from_hand(hand, InitialStateConfig(joint_jitter_rad=1.0))
    x = sampler.sample(128, generator=torch.Generator().manual_seed(1))
    assert (x[:, 9:] >= hand.joint_lower - 1e-6).all() and (x[:, 9:] <= hand.joint_upper + 1e-6).all()
    assert x[:, 9:].std(0).max() > 0.1
    again = sampler.sample(128, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(x, again)
    with pytest.raises(ValueError, match="radius_m"):
        InitialStateConfig(radius_m=0.0)


def test_reflection_folds_values_into_the_limits_without_piling_them_on_a_bound():
    lower, upper = torch.tensor([-0.3, 0.0]), torch.tensor([2.0, 1.0])
    values = torch.tensor([[0.5, 0.25], [-0.5, 1.25], [2.5, -0.25], [-2.7, 2.5]])
    expected = torch.tensor([[0.5, 0.25], [-0.1, 0.75], [1.5, 0.25], [1.9, 0.5]])  # in, once, once, twice
    torch.testing.assert_close(reflect_into(values, lower, upper), expected)
    wide = reflect_into(torch.randn(20000, 2, generator=torch.Generator().manual_seed(0)) * 0.4, lower, upper)
    assert (wide >= lower).all() and (wide <= upper).all()
    assert ((wide - lower).abs() < 1e-3).float().mean() < 0.01  # a clip would put ~23 % of column 0 on -0.3


class ZeroField(torch.nn.Module):
    """Velocity 0 everywhere, with FlashModel's forward signature and normalised MSE."""

    def __init__(self, hand):
        super().__init__()
        self.config = SimpleNamespace(path=FlowPath())
        self.hand_cloud_fn = hand.surface_points
        self.state_scale = torch.tensor([0.1] * 3 + [1.0] * 22)
        self.bias = torch.nn.Parameter(torch.zeros(25))

    def forward(self, x_t, t, prompts, points, features=None, target_velocity=None, object_index=None,
                object_grouping=None, object_normals=None):
        self.seen_t = t
        velocity = self.bias.expand_as(x_t)
        return velocity, {"cfm": (((velocity - target_velocity) / self.state_scale) ** 2).mean()}


def test_loss_of_the_zero_field_is_the_mean_squared_normalised_displacement(hand):
    sampler = InitialStateSampler.from_hand(hand)
    x_0 = sampler.sample(4, generator=torch.Generator().manual_seed(0))
    x_1 = sampler.sample(4, generator=torch.Generator().manual_seed(1))
    batch = FlowBatch(["a"] * 4, torch.zeros(4, 10, 3), x_1, initial=x_0)
    total, losses = flow_matching_loss(ZeroField(hand), batch, sampler)
    expected = (((x_1 - x_0) / torch.tensor([0.1] * 3 + [1.0] * 22)) ** 2).mean()
    torch.testing.assert_close(total, expected)


def test_minibatch_ot_pairs_the_starts_with_the_grasps_at_the_least_total_distance(hand):
    sampler = InitialStateSampler.from_hand(hand)
    scale = torch.tensor([0.1] * 3 + [1.0] * 22)
    x_1 = sampler.sample(6, generator=torch.Generator().manual_seed(1))
    shuffled = torch.tensor([3, 0, 5, 1, 4, 2])
    x_0 = x_1[shuffled]  # every grasp's own state is among the starts, shuffled
    torch.testing.assert_close(x_0[ot_pairing(x_0, x_1, scale)], x_1)
    # The assignment is the least-cost one of all 120 permutations of 5 random starts.
    x_0, x_1 = sampler.sample(5, generator=torch.Generator().manual_seed(2)), x_1[:5]
    cost = lambda order: float((((x_0[list(order)] - x_1) / scale) ** 2).sum())  # noqa: E731
    assert cost(ot_pairing(x_0, x_1, scale).tolist()) == pytest.approx(min(map(cost, itertools.permutations(range(5)))))
    # In the objective: the zero field's loss is the paired displacement, 0 here; independent pairs are far apart.
    x_1 = sampler.sample(6, generator=torch.Generator().manual_seed(3))
    batch = FlowBatch(["a"] * 6, torch.zeros(6, 10, 3), x_1, initial=x_1.flip(0))
    assert float(flow_matching_loss(ZeroField(hand), batch, sampler, ObjectiveConfig(coupling="minibatch_ot"))[0]) == 0
    assert float(flow_matching_loss(ZeroField(hand), batch, sampler)[0]) > 0.1
    with pytest.raises(ValueError, match="unknown coupling"):
        ObjectiveConfig(coupling="sinkhorn")


def test_times_given_by_the_batch_are_used_and_forward_can_be_a_wrapper(hand):
    sampler = InitialStateSampler.from_hand(hand)
    x_0 = sampler.sample(3, generator=torch.Generator().manual_seed(0))
    x_1 = sampler.sample(3, generator=torch.Generator().manual_seed(1))
    times = torch.tensor([0.1, 0.5, 0.9])
    model, wrapper_calls = ZeroField(hand), []

    def wrapper(*args, **kwargs):  # stands where DistributedDataParallel(model) would
        wrapper_calls.append(len(args[2]))
        return model(*args, **kwargs)

    batch = FlowBatch(["a"] * 3, torch.zeros(1, 10, 3), x_1, initial=x_0, times=times,
                      object_index=torch.zeros(3, dtype=torch.int64))
    flow_matching_loss(model, batch, sampler, forward=wrapper)
    assert wrapper_calls == [3]
    torch.testing.assert_close(model.seen_t, times)


def test_penetration_penalty_matches_a_sphere_sdf_closed_form(hand):
    radius = 0.05

    def sphere_sdf(points):
        return points.norm(dim=-1) - radius

    x = hand.open_pose(2)
    x[1, :3] = torch.tensor([0.0, 0.0, 1.0])  # far away: no penetration
    depth = penetration_depth(hand.surface_points, x, [sphere_sdf, sphere_sdf])
    points = hand.surface_points(x[:1])
    expected = torch.relu(radius - points.norm(dim=-1)).sum() / (2 * points.shape[1])
    torch.testing.assert_close(depth, expected)
    assert depth > 0

    sampler = InitialStateSampler.from_hand(hand)
    model = ZeroField(hand)
    batch = FlowBatch(["a"] * 2, torch.zeros(2, 10, 3), x, initial=x, object_sdfs=[sphere_sdf, sphere_sdf])
    total, losses = flow_matching_loss(model, batch, sampler, ObjectiveConfig(penetration_weight=2.0))
    torch.testing.assert_close(total, losses["cfm"] + 2.0 * losses["penetration"])
    total.backward()
    assert model.bias.grad[:3].abs().sum() > 0  # the penalty pushes the wrist out of the object
    with pytest.raises(ValueError, match="one object SDF per row"):
        flow_matching_loss(model, FlowBatch(["a"] * 2, torch.zeros(2, 10, 3), x, initial=x), sampler,
                           ObjectiveConfig(penetration_weight=1.0))
    assert math.isfinite(float(total.detach()))
