"""The model's fast paths equal the plain computations they replace (float tolerance): the fusion decoder with
per-goal memory keys/values, each distinct object cloud encoded once, PointNet++ grouping reused, and a frozen
LLM's prompt cache kept across mode switches."""

import pytest
import torch
from tiny_models import PROMPTS, build_model, randomise_head, sphere_cloud, tiny_config

from flash_core.model.flash_model import FlashModel
from flash_core.model.pointnet2 import PointNet2, SetAbstractionSpec, concat_groupings


@pytest.fixture(scope="module")
def clouds():
    return torch.stack([sphere_cloud(256, seed=0), sphere_cloud(256, radius_m=0.06, seed=1)])  # (2, 256, 3)


def states(hand, rows: int) -> torch.Tensor:
    return hand.open_pose(rows) + 0.02 * torch.randn(rows, 25, generator=torch.Generator().manual_seed(rows))


@pytest.mark.parametrize("train_mode", [False, True])
def test_fusion_with_per_goal_memory_equals_the_torch_decoder_on_repeated_memory(train_mode, leap_hand, clouds):
    model = randomise_head(build_model(tiny_config("compact", fusion_layers=3), leap_hand)).train(train_mode)
    goal = model.encode_goal(PROMPTS[:2], clouds).repeat_interleave(3)  # 2 goals x 3 rows, memory not copied
    assert goal.memory.shape[0] == 2 and goal.batch_size == 6
    x, t = states(leap_hand, 6), torch.rand(6, generator=torch.Generator().manual_seed(0))
    fast = model.velocity(x, t, goal)
    tokens = model._step_tokens(x, t, goal)
    reference = model.fusion(tokens, goal.memory.repeat_interleave(3, 0),
                             memory_key_padding_mask=goal.memory_mask.repeat_interleave(3, 0))[:, 0]
    reference = model.head(model.fusion_norm(reference)) * model.state_scale
    assert reference.abs().max() > 0.1  # the field says something
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    if train_mode:  # the gradients flow through the fast path as through the reference
        grad_fast = torch.autograd.grad(fast.square().sum(), model.fusion.layers[0].multihead_attn.in_proj_weight)
        grad_ref = torch.autograd.grad(reference.square().sum(),
                                       model.fusion.layers[0].multihead_attn.in_proj_weight)
        torch.testing.assert_close(grad_fast[0], grad_ref[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("fusion", ["compact", "llm_backbone"])
def test_distinct_clouds_encoded_once_give_the_per_row_result(fusion, leap_hand, clouds):
    model = randomise_head(build_model(tiny_config(fusion), leap_hand)).eval()
    object_index = torch.tensor([1, 0, 1, 1])
    x, t = states(leap_hand, 4), torch.tensor([0.1, 0.4, 0.6, 0.9])
    prompts = [PROMPTS[0], PROMPTS[1], PROMPTS[2], PROMPTS[0]]
    calls = []
    hook = model.object_encoder.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    with torch.no_grad():
        per_row, _ = model(x, t, prompts, clouds[object_index])
        shared, _ = model(x, t, prompts, clouds, object_index=object_index)
        grouped, _ = model(x, t, prompts, clouds, object_index=object_index,
                           object_grouping=model.object_encoder.pointnet.group(clouds))
    hook.remove()
    assert calls == [4, 2, 2]  # rows, then each distinct cloud once
    torch.testing.assert_close(shared, per_row, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grouped, shared, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="object_index"):
        model(x, t, prompts, clouds, object_index=torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="4 prompts for 2 object clouds"):
        model(x, t, prompts, clouds)


def test_pointnet_grouping_is_geometry_alone_and_joins_per_cloud(clouds):
    torch.manual_seed(0)
    pointnet = PointNet2((SetAbstractionSpec(32, 0.03, 8, 16), SetAbstractionSpec(8, 0.08, 8, 16)))
    whole = pointnet.group(clouds)
    joined = concat_groupings([pointnet.group(clouds[:1]), pointnet.group(clouds[1:])])
    for a, b in zip(whole, joined):
        assert torch.equal(a.centroid_index, b.centroid_index) and torch.equal(a.neighbor_index, b.neighbor_index)
    fresh = pointnet(clouds)
    reused = pointnet(clouds, grouping=joined)
    for a, b in zip(fresh, reused):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="levels"):
        pointnet(clouds, grouping=joined[:1])


def test_frozen_llm_prompt_cache_survives_mode_switches_but_not_new_weights(leap_hand, smollm2, clouds):
    config = tiny_config("compact", text=smollm2.config)
    model = FlashModel(config, smollm2, leap_hand.surface_points).train()
    model.encode_goal(PROMPTS[:2], clouds)
    cached = dict(model._prompt_features)
    assert len(cached) == 2
    model.eval().train()  # what a trainer does around validation
    assert all(model._prompt_features[k] is v for k, v in cached.items())
    model.load_state_dict(model.state_dict())
    assert not model._prompt_features
