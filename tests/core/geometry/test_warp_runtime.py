"""Warp's start-up: no CUDA warning on a machine without the NVIDIA driver, errors still shown."""

import subprocess
import sys

import pytest

from flash_core.geometry.warp_runtime import cuda_driver_present


@pytest.mark.skipif(cuda_driver_present(), reason="the NVIDIA driver is present: warp has nothing to warn about")
def test_no_cuda_warning_without_a_driver():
    code = ("import sys; from flash_core.geometry.warp_runtime import load_warp; load_warp(); "
            "print('stderr works', file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "CUDA" not in result.stderr and "stderr works" in result.stderr
