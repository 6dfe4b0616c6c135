"""Backends: a local process pool and Ray give the results of the inline run, grasp for grasp."""

from dataclasses import replace

import pytest
from flash_training.eval.runner import simulate


def test_ray_matches_the_local_pool(good_input, quiet_config):
    ray = pytest.importorskip("ray")
    config = replace(quiet_config, max_chunk=1)  # two tasks, so both workers get one
    pooled = simulate(good_input, replace(config, workers=2))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        distributed = simulate(good_input, replace(config, backend="ray"))
    finally:
        ray.shutdown()
    assert sorted(pooled) == [c.index for c in good_input.cases]
    assert pooled == distributed
    assert all(r.force.success and r.lift.success for r in pooled.values())


def test_config_is_checked():
    from flash_training.eval.runner import EvalConfig

    with pytest.raises(ValueError, match="protocols"):
        EvalConfig(protocols=("drop",))
    with pytest.raises(ValueError, match="backend"):
        EvalConfig(backend="slurm")
