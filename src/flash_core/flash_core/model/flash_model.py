"""FLASH: the velocity field v(x_t, t, c) of language-conditioned flow matching for dexterous grasps.

Paper: "FLASH" (CoRL 2025), Sections 2.2-2.3. The state x = [wrist translation (3), wrist rotation 6D (6), joint
angles (16)] lives in the object-centred frame (the object cloud's centroid is the origin). Conditioning c is a text
prompt, the object cloud (+ optional per-point semantic features) and - recomputed at every ODE step - the live hand
cloud P_H(x_t).

Token streams (D = d_model):
    text    prompt -> LLM                                              (B, T, H)
    object  PointNet++ + learned-query decoder (object_encoder.py)     (B, L, D)
    hand    hand.surface_points(x_t) -> PointNet++ (hand_encoder.py)   (B, S, D)
            [+ each hand point's distance to the object surface, `hand_object_distance`]
    state   MLP(x_t) + time embedding: the readout token               (B, 1, D)

Two fusions behind one interface (`encode_goal` once per goal, `velocity` once per ODE step):
    "compact"      the frozen LLM encodes each prompt once (cached by prompt string); a small transformer encodes
                   the static memory [text, object] once per goal, and a decoder runs [state, hand] tokens against
                   it at each step. The decoder's cross-attention keys and values of the memory are computed once
                   per goal and shared by all K rows of that goal. The CPU default.
    "llm_backbone" the LLM itself is the backbone over [text, object, hand, state]: the static prefix
                   [text, object] runs once per goal and its key/value cache is reused, so each step runs only the
                   hand + state tokens. LLM frozen (trainable projections), LoRA adapters, or fully fine-tuned.
                   The GPU default.

Training (`forward`) encodes each distinct object cloud of a batch once (`object_index` maps rows to clouds; a batch
holds few objects) and can take the clouds' PointNet++ sampling and grouping precomputed (`object_grouping`).

Ablation switches (paper Table 2): `use_live_hand`, `use_text`, `object.semantic_dim` (0 = no semantics) and
`text.kind` ("scratch" = transformer trained from scratch instead of a pretrained LLM). Beyond the paper:
`hand_object_distance` (the live hand's points carry their signed distance to the object cloud, its normals estimated
from the cloud itself, the same way in training and at run time) and `prediction="grasp"` (the head reads the way
left to the grasp, x_1 - x_t, and the velocity follows from it; the loss is the same).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from flash_core.flow.path import FlowPath
from flash_core.geometry.cloud_sdf import estimate_normals
from flash_core.model.hand_encoder import HandCloudFn, HandEncoder, HandEncoderConfig, surface_features
from flash_core.model.object_encoder import ObjectEncoder, ObjectEncoderConfig
from flash_core.model.pointnet2 import PointNetGrouping
from flash_core.model.text_backbone import TextBackbone, TextBackboneConfig, tokenize_prompts

FUSIONS = ("compact", "llm_backbone")
LLM_TRAINING = ("frozen", "lora", "full")
PREDICTIONS = ("velocity", "grasp")
# With prediction="grasp", the way left is divided by at least this much of the path: the velocity stays bounded as
# t -> 1 (where the remaining way and the time left both vanish), the clip JiT uses (Li & He 2025).
MIN_REMAINING_PROGRESS = 0.05
PROMPT_CACHE_ENTRIES = 4096  # default size of the frozen LLM's prompt-feature cache (least recently used dropped)


@dataclass
class FlashModelConfig:
    hand: str = "leap"
    state_dim: int = 25  # 3 translation + 6 rotation + joints
    fusion: str = "compact"
    d_model: int = 256
    text: TextBackboneConfig = field(default_factory=TextBackboneConfig)
    object: ObjectEncoderConfig = field(default_factory=ObjectEncoderConfig)
    hand_encoder: HandEncoderConfig = field(default_factory=HandEncoderConfig)
    # Table 2 switches
    use_live_hand: bool = True
    use_text: bool = True
    # Each live hand point also gets its signed distance to the object cloud (hand_encoder.surface_features).
    hand_object_distance: bool = False
    # "compact" fusion
    memory_layers: int = 2
    fusion_layers: int = 4
    fusion_heads: int = 8
    # "llm_backbone" fusion; None picks "full" for a scratch backbone and "frozen" for a pretrained one
    llm_training: str | None = None
    lora_rank: int = 8
    # Wrist translations (m) are divided by this inside the network so that every state entry is of order one.
    translation_scale_m: float = 0.1
    # When the wrist and the fingers move along the flow (flow/path.py); the default is the paper's straight line.
    path: FlowPath = field(default_factory=FlowPath)
    # What the head reads (`FlashModel._velocity_from`): "velocity", the displacement x_1 - x_0 (the paper), or
    # "grasp", the way left to the grasp, x_1 - x_t, from which the path's velocity follows. Same loss either way.
    prediction: str = "velocity"

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; expected one of {FUSIONS}")
        if self.llm_training is None:
            self.llm_training = "full" if self.text.kind == "scratch" else "frozen"
        if self.llm_training not in LLM_TRAINING:
            raise ValueError(f"unknown llm_training {self.llm_training!r}; expected one of {LLM_TRAINING}")
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {self.prediction!r}; expected one of {PREDICTIONS}")
        if self.text.kind == "scratch" and self.llm_training != "full":
            raise ValueError("a scratch text backbone has random weights: it must train (llm_training='full')")
        if self.fusion == "compact" and self.text.kind != "scratch" and self.llm_training != "frozen":
            raise ValueError("the compact fusion keeps a pretrained LLM frozen; use fusion='llm_backbone' to adapt it")
        if self.hand_object_distance and not self.use_live_hand:
            raise ValueError("hand_object_distance describes the live hand cloud: it needs use_live_hand")
        if self.state_dim <= 9:
            raise ValueError(f"state_dim must be 9 + number of joints, got {self.state_dim}")
        if self.d_model % self.fusion_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by fusion_heads {self.fusion_heads}")

    @property
    def use_semantics(self) -> bool:
        return self.object.semantic_dim > 0


@dataclass
class GoalContext:
    """Everything about a batch of goals (prompt + object) that does not change during integration.

    Rows of x_t come goal by goal: rows [g * rows_per_goal, (g + 1) * rows_per_goal) belong to goal g.
    compact:      memory (G, S, D) and memory_mask (G, S), True = padding; memory_kv, per fusion layer the
                  cross-attention keys and values of the memory, each (G, heads, S, head_dim).
    llm_backbone: prefix_kv, one (keys, values) pair per LLM layer, each (G, heads, P, head_dim); prefix_mask (G, P).
    With hand_object_distance: object_points and object_normals (G, N, 3), each goal's cloud and its normals.
    """

    num_goals: int
    memory: torch.Tensor | None = None
    memory_mask: torch.Tensor | None = None
    memory_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    prefix_mask: torch.Tensor | None = None
    rows_per_goal: int = 1
    object_points: torch.Tensor | None = None
    object_normals: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        """Rows of x_t this context serves."""
        return self.num_goals * self.rows_per_goal

    def repeat_interleave(self, repeats: int) -> GoalContext:
        """Each goal serves `repeats` rows in a row: G goals -> G * repeats rows (K grasps per goal).

        The compact memory is shared, not copied; the LLM's prefix cache is repeated (its attention takes one
        cache row per input row)."""
        if self.prefix_kv is None:
            return replace(self, rows_per_goal=self.rows_per_goal * repeats)

        def rep(value):
            return value.repeat_interleave(repeats, dim=0)

        clouds = {} if self.object_points is None else {
            "object_points": rep(self.object_points), "object_normals": rep(self.object_normals)}
        return GoalContext(self.batch_size * repeats, prefix_kv=[(rep(k), rep(v)) for k, v in self.prefix_kv],
                           prefix_mask=rep(self.prefix_mask), **clouds)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1] (B,) -> (B, dim); t is stretched to [0, 1000] as in diffusion models."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=t.dtype) / half)
    angles = 1000.0 * t[:, None] * freqs[None]  # (B, half)
    return torch.cat((angles.cos(), angles.sin()), dim=-1)


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))


class FlashModel(nn.Module):
    def __init__(self, config: FlashModelConfig, text: TextBackbone, hand_cloud_fn: HandCloudFn | None = None):
        super().__init__()
        if config.use_live_hand and hand_cloud_fn is None:
            raise ValueError("use_live_hand=True needs hand_cloud_fn (e.g. make_hand(name).surface_points)")
        self.config = config
        d = config.d_model
        self.hand_cloud_fn = hand_cloud_fn  # a plain callable: the hand model is not part of the network's state
        self.tokenizer = text.tokenizer
        self.text_source = text.describe()
        self.tokenizer_json = text.tokenizer_json
        self.llm = text.model
        self._configure_llm_training()
        self._prompt_features: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()
        self.prompt_cache_entries = PROMPT_CACHE_ENTRIES  # a trainer raises it to hold every training prompt

        self.object_encoder = ObjectEncoder(config.object, d)
        self.hand_encoder = (HandEncoder(config.hand_encoder, d, config.hand_object_distance)
                             if config.use_live_hand else None)
        self.time_embed = mlp(d, d, d)
        self.state_embed = mlp(config.state_dim, d, d)
        self.head = mlp(d, d, config.state_dim)
        nn.init.zeros_(self.head[-1].weight)  # start as the zero field: training begins from a calm flow
        nn.init.zeros_(self.head[-1].bias)
        scale = torch.ones(config.state_dim)
        scale[:3] = config.translation_scale_m
        self.register_buffer("state_scale", scale, persistent=False)

        hidden = text.hidden_size
        if config.fusion == "compact":
            self.text_proj = nn.Linear(hidden, d) if config.use_text else None
            self.type_embed = nn.Parameter(torch.randn(2, d) * 0.02)  # 0: text, 1: object
            encoder_layer = nn.TransformerEncoderLayer(d, config.fusion_heads, 4 * d, dropout=0.0,
                                                       batch_first=True, norm_first=True)
            self.memory_encoder = nn.TransformerEncoder(encoder_layer, config.memory_layers,
                                                        enable_nested_tensor=False)
            decoder_layer = nn.TransformerDecoderLayer(d, config.fusion_heads, 4 * d, dropout=0.0,
                                                       batch_first=True, norm_first=True)
            self.fusion = nn.TransformerDecoder(decoder_layer, config.fusion_layers)
            self.fusion_norm = nn.LayerNorm(d)
        else:
            self.to_llm = nn.Linear(d, hidden)  # object, hand and state tokens into the LLM's embedding space
            self.from_llm = nn.Linear(hidden, d)

    # ------------------------------------------------------------------------------------------------------------
    # set-up

    def _configure_llm_training(self) -> None:
        mode = self.config.llm_training
        self.llm.requires_grad_(mode == "full")
        if mode == "lora":
            from peft import LoraConfig, inject_adapter_in_model

            lora = LoraConfig(r=self.config.lora_rank, lora_alpha=2 * self.config.lora_rank,
                              target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], lora_dropout=0.0)
            inject_adapter_in_model(lora, self.llm)
            for name, param in self.llm.named_parameters():
                param.requires_grad_("lora_" in name)
        if mode == "frozen":
            self.llm.eval()  # no dropout in a frozen feature extractor, even while the rest trains

    def train(self, mode: bool = True) -> FlashModel:
        # The prompt cache stays: it is only used while the LLM is frozen, and then its features cannot change.
        super().train(mode)
        if self.config.llm_training == "frozen":
            self.llm.eval()
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._prompt_features.clear()  # new LLM weights make cached prompt features stale
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @property
    def llm_is_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.llm.parameters())

    # ------------------------------------------------------------------------------------------------------------
    # conditioning, once per goal

    def encode_goal(self, prompts: Sequence[str], object_points: torch.Tensor,
                    object_features: torch.Tensor | None = None, *, object_index: torch.Tensor | None = None,
                    object_grouping: PointNetGrouping | None = None,
                    object_normals: torch.Tensor | None = None) -> GoalContext:
        """G goals -> GoalContext.

        prompts (G strings); object_points (U, N, 3) and object_features (U, N, F) or None: the distinct clouds;
        object_index (G,) int64: the cloud of each goal (None: U = G, one cloud per goal, in order);
        object_grouping: the clouds' PointNet++ grouping (`object_encoder.pointnet.group(object_points)`), if known;
        object_normals (U, N, 3): the clouds' `estimate_normals`, if known (used with hand_object_distance).
        """
        object_tokens = self._object_tokens(len(prompts), object_points, object_features, object_index,
                                            object_grouping)  # (G, L, D)
        goal = (self._encode_memory(prompts, object_tokens) if self.config.fusion == "compact"
                else self._encode_prefix(prompts, object_tokens))
        if self.config.hand_object_distance:
            goal = replace(goal, **self._goal_clouds(object_points, object_index, object_normals))
        return goal

    @staticmethod
    def _goal_clouds(object_points: torch.Tensor, object_index: torch.Tensor | None,
                     normals: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Each goal's cloud (G, N, 3) and its normals, estimated from the cloud once per distinct cloud unless
        given (U, N, 3)."""
        if normals is None:
            normals = torch.stack([estimate_normals(cloud) for cloud in object_points])  # (U, N, 3)
        elif normals.shape != object_points.shape:
            raise ValueError(f"object_normals must match object_points {tuple(object_points.shape)}, "
                             f"got {tuple(normals.shape)}")
        if object_index is None:
            return {"object_points": object_points, "object_normals": normals}
        return {"object_points": object_points[object_index], "object_normals": normals[object_index]}

    def _object_tokens(self, num_goals: int, object_points: torch.Tensor, object_features: torch.Tensor | None,
                       object_index: torch.Tensor | None, object_grouping: PointNetGrouping | None) -> torch.Tensor:
        """Each distinct cloud (U, N, 3) encoded once, then picked for its goals -> (G, L, D)."""
        num_clouds = object_points.shape[0]
        if object_index is None:
            if num_clouds != num_goals:
                raise ValueError(f"{num_goals} prompts for {num_clouds} object clouds (pass object_index to share "
                                 "clouds between goals)")
        elif object_index.shape != (num_goals,) or object_index.dtype != torch.int64:
            raise ValueError(f"object_index must be ({num_goals},) int64, got {tuple(object_index.shape)} "
                             f"{object_index.dtype}")
        elif num_goals and not 0 <= int(object_index.min()) <= int(object_index.max()) < num_clouds:
            raise ValueError(f"object_index must lie in [0, {num_clouds}) (one of the {num_clouds} clouds)")
        features = object_features if self.config.use_semantics else None
        tokens = self.object_encoder(object_points, features, object_grouping)  # (U, L, D)
        return tokens if object_index is None else tokens[object_index]

    def _encode_memory(self, prompts: Sequence[str], object_tokens: torch.Tensor) -> GoalContext:
        batch, num_object, _ = object_tokens.shape
        tokens = object_tokens + self.type_embed[1]
        padding = torch.zeros(batch, num_object, dtype=torch.bool, device=tokens.device)
        if self.config.use_text:
            text, text_mask = self._prompt_hidden_states(prompts, tokens.device)  # (G, T, H), (G, T)
            tokens = torch.cat((self.text_proj(text) + self.type_embed[0], tokens), dim=1)
            padding = torch.cat((~text_mask, padding), dim=1)
        memory = self.memory_encoder(tokens, src_key_padding_mask=padding)  # (G, T + L, D)
        return GoalContext(batch, memory=memory, memory_mask=padding, memory_kv=self._memory_keys_values(memory))

    def _memory_keys_values(self, memory: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each fusion layer's cross-attention keys and values of the memory (G, S, D), each (G, heads, S, hd):
        the part of the decoder that depends on the goal alone, computed once per goal."""
        batch, length, d = memory.shape
        heads = self.config.fusion_heads
        out = []
        for layer in self.fusion.layers:
            attention = layer.multihead_attn  # packed in-projection: rows [q; k; v]
            kv = F.linear(memory, attention.in_proj_weight[d:], attention.in_proj_bias[d:])  # (G, S, 2D)
            keys, values = kv.reshape(batch, length, 2, heads, d // heads).permute(2, 0, 3, 1, 4)
            out.append((keys, values))
        return out

    def _prompt_hidden_states(self, prompts: Sequence[str], device: torch.device):
        """Last LLM hidden states of each prompt, padded: (G, T, H) and a mask (G, T), True = real token.

        A frozen LLM gives each prompt the same features forever, so they are cached by prompt string.
        """
        use_cache = self.llm_is_frozen
        missing = [p for p in dict.fromkeys(prompts) if not use_cache or (p, str(device)) not in self._prompt_features]
        if missing:
            ids, mask = self._tokenize(missing, device)
            with torch.set_grad_enabled(torch.is_grad_enabled() and not use_cache):
                hidden = self.llm.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
            fresh = {p: hidden[i, : int(mask[i].sum())] for i, p in enumerate(missing)}
        else:
            fresh = {}
        rows = []
        for prompt in prompts:
            key = (prompt, str(device))
            if prompt in fresh:
                rows.append(fresh[prompt])
                if use_cache:
                    self._prompt_features[key] = fresh[prompt]
                    if len(self._prompt_features) > self.prompt_cache_entries:
                        self._prompt_features.popitem(last=False)
            else:
                self._prompt_features.move_to_end(key)
                rows.append(self._prompt_features[key])
        lengths = torch.tensor([len(r) for r in rows], device=device)
        padded = nn.utils.rnn.pad_sequence(rows, batch_first=True)  # (G, T, H)
        mask = torch.arange(padded.shape[1], device=device)[None] < lengths[:, None]
        return padded, mask

    def _tokenize(self, prompts: Sequence[str], device: torch.device):
        tokens = tokenize_prompts(self.tokenizer, prompts, self.config.text.max_prompt_tokens, device)
        return tokens.input_ids, tokens.attention_mask

    def _prefix_embeddings(self, prompts: Sequence[str], object_tokens: torch.Tensor):
        """[text token embeddings, object tokens] in the LLM's space: (G, P, H) and mask (G, P) long, 1 = real."""
        batch, num_object, _ = object_tokens.shape
        embeds = self.to_llm(object_tokens)
        mask = torch.ones(batch, num_object, dtype=torch.long, device=embeds.device)
        if self.config.use_text:
            ids, text_mask = self._tokenize(prompts, embeds.device)
            embeds = torch.cat((self.llm.get_input_embeddings()(ids), embeds), dim=1)
            mask = torch.cat((text_mask, mask), dim=1)
        return embeds, mask

    def _encode_prefix(self, prompts: Sequence[str], object_tokens: torch.Tensor) -> GoalContext:
        embeds, mask = self._prefix_embeddings(prompts, object_tokens)
        out = self.llm.get_decoder()(inputs_embeds=embeds, attention_mask=mask, use_cache=True)
        prefix_kv = [(layer.keys, layer.values) for layer in out.cache.layers]
        return GoalContext(embeds.shape[0], prefix_kv=prefix_kv, prefix_mask=mask)

    # ------------------------------------------------------------------------------------------------------------
    # the velocity field, once per ODE step

    def _step_tokens(self, x_t: torch.Tensor, t: torch.Tensor, goal: GoalContext) -> torch.Tensor:
        """[state token, hand tokens] (B, 1 + S, D), each carrying the time embedding."""
        time = self.time_embed(timestep_embedding(t, self.config.d_model))  # (B, D)
        tokens = self.state_embed(x_t / self.state_scale).unsqueeze(1)  # (B, 1, D)
        if self.hand_encoder is not None:
            hand_points = self.hand_cloud_fn(x_t)  # (B, M, 3): the live hand, recomputed at every step
            features = None
            if self.config.hand_object_distance:
                rows, size = hand_points.shape[:2]  # the rows of a goal are consecutive: one search per goal
                grouped = hand_points.reshape(goal.num_goals, goal.rows_per_goal * size, 3)
                features = surface_features(grouped, goal.object_points, goal.object_normals).reshape(rows, size, -1)
            tokens = torch.cat((tokens, self.hand_encoder(hand_points, features)), dim=1)
        return tokens + time.unsqueeze(1)

    def _llm_step_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """[state, hand] (B, 1 + S, D) -> [hand, state] in the LLM's space (B, S + 1, H): the state token goes last
        so that, causally, it attends to everything before it; its output is the readout."""
        return self.to_llm(torch.cat((tokens[:, 1:], tokens[:, :1]), dim=1))

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor | float, goal: GoalContext) -> torch.Tensor:
        """x_t (B, state_dim), t scalar or (B,), goal with B rows -> velocity (B, state_dim) in physical units."""
        x_t, t = self._check_state(x_t, t, goal.batch_size)
        tokens = self._step_tokens(x_t, t, goal)
        if self.config.fusion == "compact":
            readout = self.fusion_norm(self._fuse(tokens, goal))  # the state token
        else:
            new = self._llm_step_embeddings(tokens)  # (B, S + 1, H)
            from transformers import DynamicCache

            cache = DynamicCache(ddp_cache_data=goal.prefix_kv, config=self.llm.config)  # prefix tensors untouched
            mask = torch.cat((goal.prefix_mask, goal.prefix_mask.new_ones(new.shape[:2])), dim=1)
            out = self.llm.get_decoder()(inputs_embeds=new, attention_mask=mask, cache=cache, use_cache=True)
            readout = self.from_llm(out.last_hidden_state[:, -1])
        return self._velocity_from(readout, t)

    def _velocity_from(self, readout: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The head's output (B, state_dim) at times t (B,) -> the velocity (zero for a part not moving at t).

        prediction="velocity": the head reads the displacement x_1 - x_0 and the path's rates make it a velocity.
        prediction="grasp": it reads the way left, x_1 - x_t, which is (1 - a(t)) (x_1 - x_0) on the path, so the
        displacement is that divided by the progress still to come (at least MIN_REMAINING_PROGRESS). Why: late in
        the flow x_t is within millimetres of the grasp, and x_1 - x_0 = (x_1 - x_t) / (1 - t) is a steep function of
        x_t that a network reading x_t does not fit (the packaged velocity model's one-step grasp estimate is only
        ~2x nearer than x_t itself at t = 0.9, on its own training data); the way left is a gentle one. Trained on
        the default data for 6000 steps it was no more precise and held no more often (docs/benchmarks.md), so the
        velocity stays the default.
        """
        path, dim = self.config.path, self.config.state_dim
        out = self.head(readout) * self.state_scale
        if self.config.prediction == "grasp":
            out = out / (1.0 - path.progress(t, dim)).clamp(min=MIN_REMAINING_PROGRESS)
        return path.rate(t, dim) * out

    def _fuse(self, tokens: torch.Tensor, goal: GoalContext) -> torch.Tensor:
        """The fusion decoder (pre-norm `nn.TransformerDecoderLayer`s, evaluated with their own weights) over the
        step tokens (B, T, D) against the goal memory -> the state token's output (B, D).

        Equal to `self.fusion(tokens, memory repeated per row)[:, 0]`, with two savings: the memory's keys and
        values come from the goal context (once per goal, shared by its rows), and the last layer only computes
        the state token, the one read out.
        """
        x = tokens
        last = len(self.fusion.layers) - 1
        for i, (layer, (keys, values)) in enumerate(zip(self.fusion.layers, goal.memory_kv, strict=True)):
            normed = layer.norm1(x)
            if i == last:  # only the state token's output is used: every token still serves as key and value
                x = x[:, :1]
            x = x + layer.self_attn(normed[:, : x.shape[1]], normed, normed, need_weights=False)[0]
            x = x + self._cross_attention(layer.multihead_attn, layer.norm2(x), keys, values, goal)
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        return x[:, 0]

    @staticmethod
    def _cross_attention(attention: nn.MultiheadAttention, x: torch.Tensor, keys: torch.Tensor,
                         values: torch.Tensor, goal: GoalContext) -> torch.Tensor:
        """x (B, T, D), B = G * K rows, against their goal's keys/values (G, heads, S, hd) -> (B, T, D).

        Cross-attention queries do not interact, so the K rows of a goal attend as one goal with K * T queries."""
        rows, length, d = x.shape
        heads = keys.shape[1]
        query = F.linear(x, attention.in_proj_weight[:d], attention.in_proj_bias[:d])  # (B, T, D)
        query = query.reshape(goal.num_goals, goal.rows_per_goal * length, heads, d // heads).transpose(1, 2)
        attend = ~goal.memory_mask[:, None, None, :]  # (G, 1, 1, S), True = attend
        out = F.scaled_dot_product_attention(query, keys, values, attn_mask=attend)  # (G, heads, K * T, hd)
        return attention.out_proj(out.transpose(1, 2).reshape(rows, length, d))

    def _check_state(self, x_t: torch.Tensor, t: torch.Tensor | float, batch: int):
        if x_t.dim() != 2 or x_t.shape[1] != self.config.state_dim:
            raise ValueError(f"x_t must be (B, {self.config.state_dim}), got {tuple(x_t.shape)}")
        if x_t.shape[0] != batch:
            raise ValueError(f"x_t has {x_t.shape[0]} rows but the goal context has {batch}")
        t = torch.as_tensor(t, dtype=x_t.dtype, device=x_t.device)
        if t.dim() == 0:
            t = t.expand(batch)
        if t.shape != (batch,):
            raise ValueError(f"t must be a scalar or ({batch},), got {tuple(t.shape)}")
        return x_t, t

    # ------------------------------------------------------------------------------------------------------------
    # training entry point

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, prompts: Sequence[str], object_points: torch.Tensor,
                object_features: torch.Tensor | None = None, target_velocity: torch.Tensor | None = None, *,
                object_index: torch.Tensor | None = None, object_grouping: PointNetGrouping | None = None,
                object_normals: torch.Tensor | None = None):
        """All conditioning encoded for every row (no goal caches). Returns (velocity (B, state_dim), losses).

        object_points (U, N, 3) [+ object_features (U, N, F)] are the distinct clouds, object_index (B,) the cloud
        of each row (None: U = B); each cloud is encoded once. object_grouping, object_normals: see `encode_goal`.
        losses["cfm"] is the flow-matching MSE in normalised units (translations divided by translation_scale_m),
        present when target_velocity (B, state_dim) is given. It compares displacements, the velocities divided by
        the path's rates, so that a fast-moving part weighs as much as a slow one; a part the path holds still at a
        row's t adds zero (the network is not asked about it).
        """
        objects = (object_points, object_features, object_index, object_grouping, object_normals)
        if self.config.fusion == "llm_backbone":
            velocity = self._forward_single_pass(x_t, t, prompts, *objects)
        else:
            goal = self.encode_goal(prompts, object_points, object_features, object_index=object_index,
                                    object_grouping=object_grouping, object_normals=object_normals)
            velocity = self.velocity(x_t, t, goal)
        losses = {}
        if target_velocity is not None:
            t = torch.as_tensor(t, dtype=velocity.dtype, device=velocity.device).expand(velocity.shape[0])
            error = self.config.path.displacement(velocity - target_velocity, t)
            losses["cfm"] = (error / self.state_scale).square().mean()
        return velocity, losses

    def _forward_single_pass(self, x_t, t, prompts, object_points, object_features, object_index,
                             object_grouping, object_normals) -> torch.Tensor:
        """The LLM over the whole sequence [text, object, hand, state] at once: what the KV-cached path must equal."""
        x_t, t = self._check_state(x_t, t, len(prompts))
        object_tokens = self._object_tokens(len(prompts), object_points, object_features, object_index,
                                            object_grouping)
        prefix, prefix_mask = self._prefix_embeddings(prompts, object_tokens)
        clouds = (self._goal_clouds(object_points, object_index, object_normals) if self.config.hand_object_distance
                  else {})
        new = self._llm_step_embeddings(self._step_tokens(x_t, t, GoalContext(len(prompts), **clouds)))
        mask = torch.cat((prefix_mask, prefix_mask.new_ones(new.shape[:2])), dim=1)
        out = self.llm.get_decoder()(inputs_embeds=torch.cat((prefix, new), dim=1), attention_mask=mask,
                                     use_cache=False)
        return self._velocity_from(self.from_llm(out.last_hidden_state[:, -1]), t)
