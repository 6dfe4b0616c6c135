"""FlashModel: shapes, determinism, KV-cached vs full sampling, training in both fusions, overfitting, ablations."""

import pytest
import torch
from tiny_models import PROMPTS, build_model, optimiser_step, randomise_head, sphere_cloud, tiny_config

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.flow.objective import FlowBatch
from flash_core.flow.path import WRIST_DIM, FlowPath
from flash_core.flow.solver import SolverConfig
from flash_core.generator import GraspGenerator
from flash_core.geometry.cloud_sdf import estimate_normals

FUSIONS = ["compact", "llm_backbone"]


@pytest.fixture(scope="module")
def cloud():
    return sphere_cloud(300)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_velocity_shape_and_seeded_sampling_is_deterministic(fusion, leap_hand, cloud):
    model = randomise_head(build_model(tiny_config(fusion), leap_hand)).eval()
    generator = GraspGenerator(model, leap_hand, SolverConfig(method="euler", steps=3))
    goals = generator.prepare_goals(PROMPTS[:2], [cloud, cloud * 1.5])
    velocity, losses = model(torch.zeros(2, 25) + leap_hand.open_pose(2), torch.rand(2), goals.prompts, goals.points)
    assert velocity.shape == (2, 25) and losses == {}
    x_a, nfe = generator.sample(goals, 3, seed=7)
    x_b, _ = generator.sample(goals, 3, seed=7)
    x_c, _ = generator.sample(goals, 3, seed=8)
    assert x_a.shape == (2, 3, 25) and nfe == 3
    torch.testing.assert_close(x_a, x_b)
    assert not torch.allclose(x_a, x_c)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("hand_object_distance", [False, True])
def test_cached_sampling_equals_reencoding_everything_every_step(fusion, hand_object_distance, leap_hand, cloud):
    config = tiny_config(fusion, hand_object_distance=hand_object_distance)
    model = randomise_head(build_model(config, leap_hand)).eval()
    generator = GraspGenerator(model, leap_hand, SolverConfig(method="midpoint", steps=3))
    goals = generator.prepare_goals([PROMPTS[0], PROMPTS[3]], [cloud, cloud.flip(0) * 0.8])
    cached, nfe_cached = generator.sample(goals, 4, seed=0, cached=True)
    naive, nfe_naive = generator.sample(goals, 4, seed=0, cached=False)
    assert nfe_cached == nfe_naive == 6
    torch.testing.assert_close(cached, naive, atol=1e-5, rtol=1e-5)
    assert (cached[:, :, :3] - generator.initial_states.sample(8, generator=torch.Generator().manual_seed(0))
            .reshape(2, 4, 25)[:, :, :3]).abs().max() > 1e-3  # the field moved the hands: the comparison says something


@pytest.mark.parametrize("hand_object_distance", [False, True])
def test_llm_backbone_kv_cache_matches_single_pass(hand_object_distance, leap_hand, cloud):
    """The cached continuation (hand + state tokens after a cached [text, object] prefix) equals one full pass."""
    config = tiny_config("llm_backbone", hand_object_distance=hand_object_distance)
    model = randomise_head(build_model(config, leap_hand)).eval()
    points = torch.stack([cloud[:256], cloud[:256] * 1.3])
    x = leap_hand.open_pose(2) + torch.tensor([0.1, 0, 0] + [0] * 22)
    t = torch.tensor([0.2, 0.7])
    prompts = [PROMPTS[1], "a much longer prompt that needs more tokens than the other one"]
    with torch.no_grad():
        full, _ = model(x, t, prompts, points)
        cached = model.velocity(x, t, model.encode_goal(prompts, points))
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=1e-5)
    if hand_object_distance:  # normals a trainer cached are used as given, in both paths
        normals = torch.stack([estimate_normals(p) for p in points])
        with torch.no_grad():
            given, _ = model(x, t, prompts, points, object_normals=normals)
            flipped, _ = model(x, t, prompts, points, object_normals=-normals)
            goal = model.encode_goal(prompts, points, object_normals=-normals)
        torch.testing.assert_close(given, full, atol=1e-5, rtol=1e-5)
        assert (flipped - full).abs().max() > 1e-4
        torch.testing.assert_close(model.velocity(x, t, goal), flipped, atol=1e-5, rtol=1e-5)
        with pytest.raises(ValueError, match="object_normals must match"):
            model.encode_goal(prompts, points, object_normals=normals[:, :10])


@pytest.mark.parametrize("fusion", FUSIONS)
def test_both_fusions_train_a_step_and_then_sample(fusion, leap_hand, cloud):
    model = build_model(tiny_config(fusion), leap_hand)
    sampler = InitialStateSampler.from_hand(leap_hand)
    grasps = sampler.sample(4, generator=torch.Generator().manual_seed(1))
    batch = FlowBatch(PROMPTS[:4], cloud[:256][None].expand(4, -1, -1), grasps)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss = optimiser_step(model.train(), optimizer, batch, sampler, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    changed = [n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(before[n], p)]
    assert any(n.startswith("object_encoder.") for n in changed) and any(n.startswith("head.") for n in changed)
    assert any(n.startswith("hand_encoder.") for n in changed)
    if fusion == "llm_backbone":
        assert any(n.startswith("llm.") for n in changed)  # a scratch backbone trains with FLASH
    grasps = GraspGenerator(model, leap_hand, SolverConfig(method="euler", steps=2)).generate(
        PROMPTS[0], cloud, num_grasps=3, seed=0)
    assert len(grasps) == 3 and all(torch.isfinite(torch.as_tensor(g.vector)).all() for g in grasps)


def test_wrist_first_path_holds_each_part_still_outside_its_stretch_and_learns_displacements(leap_hand, cloud):
    path = FlowPath(wrist_end_t=0.75, joints_start_t=0.75)
    model = randomise_head(build_model(tiny_config("compact", path=path), leap_hand)).eval()
    x = leap_hand.open_pose(4)
    t = torch.tensor([0.0, 0.5, 0.75, 0.9])
    points = cloud[:256][None].expand(4, -1, -1)
    target = torch.randn(4, 25, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        velocity, losses = model(x, t, PROMPTS[:4], points, target_velocity=target)
    assert velocity[:2, WRIST_DIM:].abs().max() == 0 and velocity[2:, :WRIST_DIM].abs().max() == 0
    assert velocity[:2, :WRIST_DIM].abs().min() > 0 and velocity[2:, WRIST_DIM:].abs().min() > 0
    # The loss compares displacements (velocity / rate) of the moving parts; a still part adds nothing.
    rate = path.rate(t, 25)
    error = torch.where(rate > 0, (velocity - target) / rate.clamp(min=1e-9), 0) / model.state_scale
    torch.testing.assert_close(losses["cfm"], error.square().mean())


@pytest.mark.parametrize("path", [FlowPath(), FlowPath(0.75, 0.75)], ids=["straight", "wrist_first"])
def test_grasp_prediction_reads_the_way_left_and_its_one_step_estimate_is_the_grasp_read(path, leap_hand, cloud):
    model = randomise_head(build_model(tiny_config("compact", path=path, prediction="grasp"), leap_hand)).eval()
    x = leap_hand.open_pose(5)
    x[:, :3] += torch.tensor([0.05, -0.02, 0.1])
    t = torch.tensor([0.0, 0.3, 0.75, 0.9, 0.99])
    points = cloud[:256][None].expand(5, -1, -1)
    read = {}
    model.head.register_forward_hook(lambda _module, _inputs, output: read.update(head=output))
    with torch.no_grad():
        velocity, _ = model(x, t, PROMPTS[:5], points)
    way_left = read["head"] * model.state_scale
    remaining = 1 - path.progress(t, 25)
    moving = path.rate(t, 25) > 0
    # Up to t = 0.95 one step of the remaining time lands exactly on x_t + the way left, for every moving entry.
    estimate = path.endpoint(x, velocity, t)
    early = moving & (remaining >= 0.05)
    torch.testing.assert_close(estimate[early], (x + way_left)[early])
    # Later the division stops at 0.05 of the path: the velocity stays bounded where the way left vanishes.
    late = moving & (remaining < 0.05)
    assert late.any()
    torch.testing.assert_close(velocity[late], (path.rate(t, 25) * way_left / 0.05)[late])
    assert velocity[~moving].abs().sum() == 0  # the wrist-first path holds a part still at some of these t


@pytest.mark.slow
@pytest.mark.parametrize("path, solver", [(FlowPath(), SolverConfig(method="rk4", steps=8)),
                                          (FlowPath(0.75, 0.75), SolverConfig(method="euler", steps=16))],
                         ids=["straight", "wrist_first"])
def test_small_model_overfits_two_grasps_and_reproduces_them(path, solver, leap_hand, cloud):
    """Two goals (same object, same start x_0, different prompts), one grasp each: after training, integrating from
    x_0 lands on the grasp of the prompt given, so only the text tells them apart. The wrist-first path integrates
    with Euler steps on a grid through its switch time.
    Thresholds: wrist within 5 mm, joints within 0.03 rad, rot6d entries within 0.03."""
    model = build_model(tiny_config("compact", path=path), leap_hand)
    sampler = InitialStateSampler.from_hand(leap_hand)
    generator = torch.Generator().manual_seed(3)
    starts = sampler.sample(1, generator=generator).expand(2, -1)
    targets = sampler.sample(2, generator=generator)
    targets[:, :3] *= 0.4  # grasps closer to the object than the start ring
    # fingers closed more or less
    targets[:, 9:] = leap_hand.clamp_joints(targets[:, 9:] + torch.tensor([[0.6], [0.2]]))
    object_points = cloud[:256]
    rows = torch.arange(4) % 2
    batch = FlowBatch([PROMPTS[i] for i in rows], object_points[None].expand(4, -1, -1), targets[rows],
                      initial=starts[rows])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    for _ in range(150):  # the wrist-first path asks about each part on only part of the times: a few more steps
        loss = optimiser_step(model, optimizer, batch, sampler, generator=generator)
    assert loss < 1e-3

    grasp_generator = GraspGenerator(model, leap_hand, solver)
    goals = grasp_generator.prepare_goals(PROMPTS[:2], [object_points, object_points])
    offset = torch.cat((goals.centres, torch.zeros(2, 22)), dim=1)  # training used the cloud's own frame
    x, _ = grasp_generator.sample(goals, 1, initial=starts - offset)
    x = x[:, 0] + offset
    assert (x[:, :3] - targets[:, :3]).norm(dim=-1).max() < 0.005
    assert (x[:, 9:] - targets[:, 9:]).abs().max() < 0.03
    assert (x[:, 3:9] - targets[:, 3:9]).abs().max() < 0.03
