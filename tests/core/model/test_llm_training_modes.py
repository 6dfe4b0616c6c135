"""A pretrained backbone (here a small local checkpoint) frozen, with LoRA adapters, or fully fine-tuned."""

import pytest
import torch
from tiny_models import PROMPTS, build_model, optimiser_step, sphere_cloud, tiny_config

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.flow.objective import FlowBatch
from flash_core.model.checkpoint import load_checkpoint, save_checkpoint
from flash_core.model.flash_model import FlashModelConfig
from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone


@pytest.fixture(scope="module")
def local_llm(tmp_path_factory):
    """A small Llama saved as an ordinary Hugging Face checkpoint folder, standing in for Qwen2.5 on disk."""
    directory = tmp_path_factory.mktemp("local-llm")
    scratch = load_text_backbone(TextBackboneConfig(kind="scratch", scratch_hidden_size=32, scratch_layers=2,
                                                    scratch_heads=2, scratch_vocab_size=300), scratch_corpus=PROMPTS)
    scratch.model.save_pretrained(directory)
    scratch.tokenizer.save_pretrained(directory)
    return TextBackboneConfig(kind="local", path=str(directory))


def trainable_llm_names(model):
    return {n for n, p in model.llm.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("mode", ["frozen", "lora", "full"])
def test_llm_training_mode_decides_what_trains_and_what_is_saved(mode, local_llm, leap_hand, tmp_path):
    config = tiny_config("llm_backbone", text=local_llm, llm_training=mode)
    model = build_model(config, leap_hand, text=load_text_backbone(local_llm))
    names = trainable_llm_names(model)
    if mode == "frozen":
        assert names == set()
    elif mode == "lora":
        assert names and all("lora_" in n for n in names)
    else:
        assert names == {n for n, _ in model.llm.named_parameters()}
    sampler = InitialStateSampler.from_hand(leap_hand)
    batch = FlowBatch(PROMPTS[:2], sphere_cloud(256)[None].expand(2, -1, -1),
                      sampler.sample(2, generator=torch.Generator().manual_seed(0)))
    before = {n: p.detach().clone() for n, p in model.llm.named_parameters()}
    optimiser_step(model.train(), torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2), batch,
                   sampler)
    changed = {n for n, p in model.llm.named_parameters() if not torch.equal(before[n], p)}
    assert changed <= names and (changed or mode == "frozen")
    # The checkpoint stores what trained; the frozen base is re-read from its folder and checked by hash.
    directory = save_checkpoint(model, tmp_path / mode, leap_hand)
    loaded = load_checkpoint(directory, leap_hand)
    for name, param in model.llm.named_parameters():
        torch.testing.assert_close(dict(loaded.llm.named_parameters())[name], param)


def test_compact_fusion_keeps_a_pretrained_llm_frozen(local_llm):
    with pytest.raises(ValueError, match="frozen"):
        FlashModelConfig(fusion="compact", text=local_llm, llm_training="lora")
    with pytest.raises(ValueError, match="must train"):
        FlashModelConfig(text=TextBackboneConfig(kind="scratch"), llm_training="frozen")
