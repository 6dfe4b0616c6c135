"""The probability path FLASH trains on: from the initial hand x_0 to the grasp x_1, piecewise straight.

Time convention (used everywhere in FLASH): t = 0 is the initial (open) hand, t = 1 the grasp.
Each part of the state moves on its own straight line at its own time (`FlowPath`):

    wrist  (translation + rotation, the first 9 entries)  x_t = x_0 + a_w(t) (x_1 - x_0), a_w = min(t / T, 1)
    joints                                                x_t = x_0 + a_q(t) (x_1 - x_0), a_q = clip((t - S) / (1 - S))

with T = `wrist_end_t`, S = `joints_start_t`. T = 1, S = 0 is the paper's single straight line (conditional flow
matching with sigma = 0, Eq. 1): every entry moves at once with the constant velocity x_1 - x_0. T = S moves the
wrist first and the fingers after it, as a hand approaches and then closes. Why: on the single line the fingers'
endpoint is fixed by the network's first step, while the wrist is still far from known (benchmarks/
flow_commitment.py); starting them when the wrist has arrived lets the network choose them for that wrist. Trained
on the default data (T = S = 0.75, 6000 steps) that model held less often than the straight line (settled force
closure 4.7 % against 18.8 %, docs/benchmarks.md), so the straight line stays the default.

Each part's velocity is constant while it moves and zero otherwise (`rate` times the displacement x_1 - x_0). The
rates switch at T and S, so Euler and midpoint steps integrate the path exactly when T and S lie on their time grid
(T = S = 0.75 does for 4, 8, 16 or 32 steps): the network is asked for the displacement and the path applies the
rate (`FlashModel.velocity`), so the switch is exact rather than learned. RK4 and Dormand-Prince also evaluate at
the end of a step, across the switch: they work but lose their order there (dopri5 shrinks its steps around it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

WRIST_DIM = 9  # translation (3) + rotation 6D (6); the joints follow


@dataclass
class FlowPath:
    wrist_end_t: float = 1.0  # the wrist moves during [0, wrist_end_t]
    joints_start_t: float = 0.0  # the joints move during [joints_start_t, 1]

    def __post_init__(self) -> None:
        if not 0.0 < self.wrist_end_t <= 1.0:
            raise ValueError(f"wrist_end_t must be in (0, 1], got {self.wrist_end_t}")
        if not 0.0 <= self.joints_start_t < 1.0:
            raise ValueError(f"joints_start_t must be in [0, 1), got {self.joints_start_t}")

    def progress(self, t: torch.Tensor, state_dim: int) -> torch.Tensor:
        """a(t) (B, state_dim): how far each entry has come from x_0 (0) to x_1 (1) at times t (B,)."""
        wrist = (t / self.wrist_end_t).clamp(max=1.0)
        joints = ((t - self.joints_start_t) / (1.0 - self.joints_start_t)).clamp(0.0, 1.0)
        return self._by_part(wrist, joints, state_dim)

    def rate(self, t: torch.Tensor, state_dim: int) -> torch.Tensor:
        """a'(t) (B, state_dim), right-continuous: a part that stops at t is already still at t, one that starts at
        t already moves, so a left-point (Euler) step from a switch time does what the path does after it. The
        straight path moves at every t, t = 1 included (adaptive solvers evaluate there)."""
        wrist_moving = (t < self.wrist_end_t) | (self.wrist_end_t == 1.0)
        joints_moving = t >= self.joints_start_t
        wrist = wrist_moving.to(t.dtype) / self.wrist_end_t
        joints = joints_moving.to(t.dtype) / (1.0 - self.joints_start_t)
        return self._by_part(wrist, joints, state_dim)

    def sample(self, x_0: torch.Tensor, x_1: torch.Tensor, t: torch.Tensor) -> PathSample:
        """Points on the path x_0 -> x_1 at times t (B,), with their velocity."""
        if x_0.shape != x_1.shape or x_0.dim() != 2:
            raise ValueError(f"x_0 and x_1 must both be (B, D); got {tuple(x_0.shape)} and {tuple(x_1.shape)}")
        if t.shape != (x_0.shape[0],):
            raise ValueError(f"t must be ({x_0.shape[0]},), got {tuple(t.shape)}")
        displacement = x_1 - x_0
        x_t = x_0 + self.progress(t, x_0.shape[1]) * displacement
        return PathSample(x_0=x_0, x_1=x_1, t=t, x_t=x_t, dx_t=self.rate(t, x_0.shape[1]) * displacement)

    def displacement(self, velocity: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """velocity (B, D) at times t (B,) -> the displacement x_1 - x_0 it moves at (velocity / rate) for the
        entries moving at t, 0 for those the path holds still (a velocity there says nothing of the grasp)."""
        rate = self.rate(t, velocity.shape[1])
        moving = rate > 0
        return torch.where(moving, velocity / torch.where(moving, rate, 1.0), 0.0)

    def endpoint(self, x_t: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The one-step estimate of x_1 (B, D) from a velocity at x_t: each moving entry continues at its rate to
        the end of its stretch; an entry that is still (done, or not yet started) stays where it is."""
        return x_t + (1.0 - self.progress(t, x_t.shape[1])) * self.displacement(velocity, t)

    @staticmethod
    def _by_part(wrist: torch.Tensor, joints: torch.Tensor, state_dim: int) -> torch.Tensor:
        """(B,) wrist and joint values -> (B, state_dim)."""
        return torch.cat((wrist[:, None].expand(-1, WRIST_DIM), joints[:, None].expand(-1, state_dim - WRIST_DIM)),
                         dim=1)


@dataclass
class PathSample:
    x_0: torch.Tensor  # (B, D) start states
    x_1: torch.Tensor  # (B, D) end states (grasps)
    t: torch.Tensor  # (B,) times in [0, 1]
    x_t: torch.Tensor  # (B, D) states on the path at t
    dx_t: torch.Tensor  # (B, D) target velocity d x_t / dt
