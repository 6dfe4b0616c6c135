"""Tiny FLASH models and toy objects shared by the model tests (a plain module: conftest holds only fixtures)."""

import torch

from flash_core.flow.objective import flow_matching_loss
from flash_core.model.flash_model import FlashModel, FlashModelConfig
from flash_core.model.hand_encoder import HandEncoderConfig
from flash_core.model.object_encoder import ObjectEncoderConfig
from flash_core.model.pointnet2 import SetAbstractionSpec
from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone

PROMPTS = ["grasp the mug by its handle", "pick up the ball with all fingers", "pinch the rim with two fingers",
           "hold the bottle firmly", "lift the box from the top"]


def tiny_config(fusion: str = "compact", **overrides) -> FlashModelConfig:
    text = overrides.pop("text", TextBackboneConfig(kind="scratch", scratch_hidden_size=32, scratch_layers=1,
                                                    scratch_heads=2, scratch_vocab_size=300))
    obj = ObjectEncoderConfig(num_points=256, num_tokens=4, decoder_layers=1, decoder_heads=2,
                              semantic_dim=overrides.pop("semantic_dim", 0),
                              levels=(SetAbstractionSpec(64, 0.03, 16, 32), SetAbstractionSpec(16, 0.08, 16, 32)))
    hand = HandEncoderConfig(levels=(SetAbstractionSpec(32, 0.03, 8, 32), SetAbstractionSpec(8, 0.08, 8, 32)))
    overrides = {"fusion_layers": 1, "memory_layers": 1, **overrides}
    return FlashModelConfig(fusion=fusion, d_model=32, fusion_heads=2, text=text, object=obj, hand_encoder=hand,
                            **overrides)


def build_model(config: FlashModelConfig, hand, text=None, seed: int = 0) -> FlashModel:
    torch.manual_seed(seed)
    text = text or load_text_backbone(config.text, scratch_corpus=PROMPTS)
    return FlashModel(config, text, hand.surface_points if config.use_live_hand else None)


def randomise_head(model: FlashModel, seed: int = 1) -> FlashModel:
    """The head starts at zero (a calm initial flow); tests that compare outputs need it to say something."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.head.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return model


def sphere_cloud(num: int, radius_m: float = 0.04, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(num, 3, generator=generator), dim=-1) * radius_m


def optimiser_step(model, optimizer, batch, sampler, generator=None) -> float:
    """One plain gradient step on the flow-matching loss; returns the loss. (The trainer's step, with clipping
    and logs, is flash_training.train.step, tested with the training package.)"""
    optimizer.zero_grad(set_to_none=True)
    loss, _ = flow_matching_loss(model, batch, sampler, generator=generator)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
