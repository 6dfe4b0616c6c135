"""ODE solver against closed-form velocity fields (flow_matching's own test pattern)."""

import pytest
import torch

from flash_core.flow.solver import ODESolver, SamplingCancelled, SolverConfig


def constant_field(x, t):
    return torch.ones_like(x) * torch.tensor([1.0, -2.0, 0.5])


def cubic_field(x, t):
    # dx/dt = 3 t^2  ->  x(1) = x(0) + 1
    return torch.full_like(x, 3.0) * t**2


def linear_decay(x, t):
    # dx/dt = -x  ->  x(1) = x(0) e^-1
    return -x


X0 = torch.tensor([[0.0, 1.0, 2.0], [-1.0, 0.5, 3.0]])


@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4", "dopri5", "dopri8"])
def test_constant_velocity_is_exact_for_every_method(method):
    result = ODESolver(constant_field).sample(X0, SolverConfig(method=method, steps=4))
    torch.testing.assert_close(result.x_1, X0 + torch.tensor([1.0, -2.0, 0.5]))


@pytest.mark.parametrize("method, steps, tol", [("rk4", 2, 1e-6), ("dopri5", 1, 1e-5), ("dopri8", 1, 1e-5),
                                                ("midpoint", 8, 5e-3), ("euler", 64, 3e-2)])
def test_cubic_time_field_reaches_closed_form(method, steps, tol):
    result = ODESolver(cubic_field).sample(X0, SolverConfig(method=method, steps=steps))
    assert (result.x_1 - (X0 + 1.0)).abs().max() < tol


def test_euler_error_matches_its_closed_form():
    # Left Riemann sum of 3 t^2 over n steps: 3/n^3 * sum_{k<n} k^2 = (n-1)(2n-1)/(2 n^2)
    n = 8
    result = ODESolver(cubic_field).sample(X0, SolverConfig(method="euler", steps=n))
    torch.testing.assert_close(result.x_1, X0 + (n - 1) * (2 * n - 1) / (2 * n * n))


@pytest.mark.parametrize("method, tol", [("rk4", 1e-4), ("dopri5", 1e-4), ("dopri8", 1e-5)])
def test_state_dependent_field_matches_exponential(method, tol):
    result = ODESolver(linear_decay).sample(X0, SolverConfig(method=method, steps=16, atol=1e-7, rtol=1e-7))
    assert (result.x_1 - X0 * torch.exp(torch.tensor(-1.0))).abs().max() < tol


@pytest.mark.parametrize("method, steps, nfe", [("euler", 8, 8), ("midpoint", 8, 16), ("rk4", 4, 16)])
def test_fixed_step_nfe_counts_every_evaluation(method, steps, nfe):
    calls = []

    def field(x, t):
        calls.append(float(t))
        return -x

    result = ODESolver(field).sample(X0, SolverConfig(method=method, steps=steps))
    assert result.nfe == len(calls) == nfe


def test_adaptive_nfe_counts_every_evaluation():
    calls = []

    def field(x, t):
        calls.append(1)
        return -x

    result = ODESolver(field).sample(X0, SolverConfig(method="dopri5"))
    assert result.nfe == len(calls) > 0


def test_cancel_callback_stops_integration():
    seen = []

    def keep_going(t, nfe):
        seen.append(nfe)
        return nfe < 3

    with pytest.raises(SamplingCancelled, match="cancelled"):
        ODESolver(linear_decay).sample(X0, SolverConfig(method="euler", steps=10), should_continue=keep_going)
    assert seen == [0, 1, 2, 3]


def test_progress_is_reported_monotonically_up_to_one():
    progress = []
    ODESolver(linear_decay).sample(X0, SolverConfig(method="rk4", steps=4),
                                   on_progress=lambda t, nfe: progress.append(t))
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert progress == sorted(progress)


def test_intermediates_start_at_x_init_and_end_at_result():
    result = ODESolver(constant_field).sample(X0, SolverConfig(method="euler", steps=5), return_intermediates=True)
    assert result.trajectory.shape == (6, 2, 3)
    torch.testing.assert_close(result.trajectory[0], X0)
    torch.testing.assert_close(result.trajectory[-1], result.x_1)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown ODE method"):
        SolverConfig(method="dopri9")
    with pytest.raises(ValueError, match="NaN"):
        ODESolver(constant_field).sample(torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        ODESolver(constant_field).sample(torch.zeros(3))
