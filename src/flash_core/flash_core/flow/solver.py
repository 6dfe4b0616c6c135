"""Integrating a velocity field from t = 0 to t = 1.

`ODESolver(velocity_fn).sample(x_init, method=..., steps=...)` runs torchdiffeq: adaptive Dormand–Prince
("dopri5", "dopri8"; the paper used a 9th-order Dopri, torchdiffeq's highest is dopri8) or fixed-step "euler",
"midpoint", "rk4" over `steps` equal steps. Every velocity evaluation is counted (NFE). Before each evaluation an
optional `should_continue(t, nfe)` callback may return False to stop with `SamplingCancelled`; `on_progress(t, nfe)`
reports how far the integration has come (t in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

ADAPTIVE_METHODS = ("dopri5", "dopri8")
FIXED_STEP_METHODS = ("euler", "midpoint", "rk4")

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x: (B, D), t: scalar tensor) -> (B, D)


class SamplingCancelled(RuntimeError):
    """Integration was stopped because the cancel callback returned False."""

    def __init__(self, t: float, nfe: int):
        super().__init__(f"sampling cancelled at t = {t:.3f} after {nfe} velocity evaluations")
        self.t = t
        self.nfe = nfe


@dataclass
class SolverConfig:
    method: str = "dopri5"
    steps: int = 16  # fixed-step methods only
    atol: float = 1e-4  # adaptive methods only
    rtol: float = 1e-4

    def __post_init__(self) -> None:
        if self.method not in ADAPTIVE_METHODS + FIXED_STEP_METHODS:
            raise ValueError(f"unknown ODE method {self.method!r}; expected one of "
                             f"{ADAPTIVE_METHODS + FIXED_STEP_METHODS}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


@dataclass
class SolverResult:
    x_1: torch.Tensor  # (B, D) state at t = 1
    nfe: int  # velocity evaluations spent
    times: torch.Tensor | None = None  # (T,) when intermediates were asked for
    trajectory: torch.Tensor | None = None  # (T, B, D) states at `times`


class ODESolver:
    def __init__(self, velocity_fn: VelocityFn):
        self.velocity_fn = velocity_fn

    @torch.no_grad()
    def sample(
        self,
        x_init: torch.Tensor,
        config: SolverConfig | None = None,
        *,
        return_intermediates: bool = False,
        should_continue: Callable[[float, int], bool] | None = None,
        on_progress: Callable[[float, int], None] | None = None,
    ) -> SolverResult:
        """Integrate dx/dt = v(x, t) from x_init at t = 0 to t = 1. x_init: (B, D)."""
        from torchdiffeq import odeint

        config = config or SolverConfig()
        if x_init.dim() != 2:
            raise ValueError(f"x_init must be (B, D), got {tuple(x_init.shape)}")
        if not torch.isfinite(x_init).all():
            raise ValueError("x_init contains NaN or inf")
        nfe = 0

        def counted(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            nonlocal nfe
            t_now = float(t)
            if should_continue is not None and not should_continue(t_now, nfe):
                raise SamplingCancelled(t_now, nfe)
            if on_progress is not None:
                on_progress(t_now, nfe)
            nfe += 1
            return self.velocity_fn(x, t)

        fixed = config.method in FIXED_STEP_METHODS
        if fixed or return_intermediates:
            # Fixed-step solvers step exactly on this grid; adaptive ones report their (interpolated) state there.
            times = torch.linspace(0.0, 1.0, config.steps + 1, device=x_init.device, dtype=x_init.dtype)
        else:
            times = torch.tensor([0.0, 1.0], device=x_init.device, dtype=x_init.dtype)
        options = {} if fixed else {"atol": config.atol, "rtol": config.rtol}
        trajectory = odeint(counted, x_init, times, method=config.method, **options)  # (T, B, D)
        if on_progress is not None:
            on_progress(1.0, nfe)
        if return_intermediates:
            return SolverResult(x_1=trajectory[-1], nfe=nfe, times=times, trajectory=trajectory)
        return SolverResult(x_1=trajectory[-1], nfe=nfe)
