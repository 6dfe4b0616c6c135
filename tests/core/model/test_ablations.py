"""Each Table 2 switch changes what it names and nothing else."""

import torch
from tiny_models import PROMPTS, build_model, randomise_head, sphere_cloud, tiny_config

from flash_core.model.flash_model import FlashModel
from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone


def state(hand, rows=2):
    return hand.open_pose(rows) + torch.tensor([0.12, -0.03, 0.05] + [0.0] * 22)


def keys(model):
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def velocity(model, hand, prompts, points, features=None):
    with torch.no_grad():
        return model(state(hand, len(prompts)), torch.full((len(prompts),), 0.4), prompts, points, features)[0]


def test_without_text_the_prompt_is_ignored_and_only_text_projection_goes(leap_hand):
    full = randomise_head(build_model(tiny_config("compact"), leap_hand)).eval()
    blind = randomise_head(build_model(tiny_config("compact", use_text=False), leap_hand)).eval()
    assert set(keys(full)) - set(keys(blind)) == {"text_proj.weight", "text_proj.bias"}
    assert set(keys(blind)) <= set(keys(full))
    points = sphere_cloud(256)[None].expand(2, -1, -1)
    torch.testing.assert_close(velocity(blind, leap_hand, PROMPTS[:2], points),
                               velocity(blind, leap_hand, PROMPTS[2:4], points))
    assert not torch.allclose(velocity(full, leap_hand, PROMPTS[:2], points),
                              velocity(full, leap_hand, PROMPTS[2:4], points))


def test_without_text_in_the_llm_backbone_the_prefix_is_the_object_alone(leap_hand):
    blind = randomise_head(build_model(tiny_config("llm_backbone", use_text=False), leap_hand)).eval()
    full = build_model(tiny_config("llm_backbone"), leap_hand)
    assert keys(blind) == keys(full)  # same network, the text tokens are simply not fed
    points = sphere_cloud(256)[None].expand(2, -1, -1)
    goal = blind.encode_goal(PROMPTS[:2], points)
    assert goal.prefix_mask.shape == (2, blind.config.object.num_tokens)
    torch.testing.assert_close(velocity(blind, leap_hand, PROMPTS[:2], points),
                               velocity(blind, leap_hand, PROMPTS[2:4], points))


def test_without_live_hand_the_hand_cloud_is_never_computed(leap_hand):
    calls = []

    def counting_cloud(x):
        calls.append(x.shape[0])
        return leap_hand.surface_points(x)

    config = tiny_config("compact", use_live_hand=False)
    text = load_text_backbone(config.text, scratch_corpus=PROMPTS)
    static = FlashModel(config, text, counting_cloud)
    full = build_model(tiny_config("compact"), leap_hand)
    assert {k.split(".")[0] for k in set(keys(full)) - set(keys(static))} == {"hand_encoder"}
    assert set(keys(static)) <= set(keys(full))
    velocity(static, leap_hand, PROMPTS[:2], sphere_cloud(256)[None].expand(2, -1, -1))
    assert calls == []
    live = FlashModel(tiny_config("compact"), text, counting_cloud)
    velocity(live, leap_hand, PROMPTS[:2], sphere_cloud(256)[None].expand(2, -1, -1))
    assert calls == [2]


def test_semantic_features_widen_only_the_point_projection_and_matter(leap_hand):
    plain = build_model(tiny_config("compact"), leap_hand)
    semantic = randomise_head(build_model(tiny_config("compact", semantic_dim=8), leap_hand)).eval()
    differing = {k for k in keys(plain) if keys(plain)[k] != keys(semantic).get(k)}
    assert set(keys(plain)) == set(keys(semantic)) and differing == {"object_encoder.point_proj.weight"}
    width = "object_encoder.point_proj.weight"
    assert keys(semantic)[width][1] == keys(plain)[width][1] + 8
    points = sphere_cloud(256)[None].expand(2, -1, -1)
    features = torch.randn(2, 256, 8, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(velocity(semantic, leap_hand, PROMPTS[:2], points, features),
                              velocity(semantic, leap_hand, PROMPTS[:2], points, features * -1.0))


def test_pretrained_and_scratch_backbones_differ_only_in_the_llm_and_its_projection(leap_hand, smollm2):
    pretrained = build_model(tiny_config("compact", text=TextBackboneConfig()), leap_hand, text=smollm2)
    scratch = build_model(tiny_config("compact"), leap_hand)
    outside_llm = lambda model: {k: s for k, s in keys(model).items() if not k.startswith("llm.")}  # noqa: E731
    differing = {k for k in outside_llm(scratch) if outside_llm(scratch)[k] != outside_llm(pretrained).get(k)}
    assert set(outside_llm(scratch)) == set(outside_llm(pretrained)) and differing == {"text_proj.weight"}
    assert pretrained.llm_is_frozen and not scratch.llm_is_frozen
    # The frozen LLM encodes each prompt once: the second call is served from the cache by prompt string.
    pretrained.eval()
    points = sphere_cloud(256)[None].expand(2, -1, -1)
    first = pretrained.encode_goal(PROMPTS[:2], points).memory
    cached = dict(pretrained._prompt_features)
    second = pretrained.encode_goal(PROMPTS[:2], points).memory
    assert len(cached) == 2 and all(pretrained._prompt_features[k] is v for k, v in cached.items())
    torch.testing.assert_close(first, second)
