"""One optimiser step of flow matching (the objective itself is the core's `flash_core.flow.objective`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.flow.objective import FlowBatch, ObjectiveConfig, flow_matching_loss


def train_step(model, optimizer: torch.optim.Optimizer, batch: FlowBatch, sampler: InitialStateSampler,
               config: ObjectiveConfig | None = None, generator: torch.Generator | None = None,
               max_grad_norm: float | None = 1.0, *, forward: Callable | None = None) -> dict[str, float]:
    """One optimiser step on one batch; returns the loss parts (and the gradient norm) as floats, for logging.

    The model must already be in training mode: this does not call `model.train()` (once per run is enough, and
    switching modes every step is wasted work). forward: the DistributedDataParallel wrapper of `model` in a
    distributed run (see `flow_matching_loss`).
    """
    optimizer.zero_grad(set_to_none=True)
    total, losses = flow_matching_loss(model, batch, sampler, config, generator, forward=forward)
    total.backward()
    logs = {"loss": float(total.detach()), **{name: float(value.detach()) for name, value in losses.items()}}
    if max_grad_norm is not None:
        trainable = [p for p in model.parameters() if p.requires_grad]
        logs["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm))
    optimizer.step()
    return logs
