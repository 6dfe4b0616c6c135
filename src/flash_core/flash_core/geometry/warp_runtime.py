"""Import and initialise NVIDIA warp once, with its kernel cache under the FLASH cache folder.

On machines without the NVIDIA driver warp's native initialisation prints "Warp CUDA warning: Could not find or
load the NVIDIA CUDA driver" to the process's stderr (from C, past Python's sys.stderr) on every command. FLASH
runs warp on the CPU there by design, so that line is swallowed; where the driver exists nothing is hidden.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from types import ModuleType

import torch

from flash_core.utils.cache import cache_dir
from flash_core.utils.require import require_package

_WARP: ModuleType | None = None


def load_warp() -> ModuleType:
    """The initialised `warp` module; compiled kernels are cached in cache_dir("warp")."""
    global _WARP
    if _WARP is None:
        wp = require_package("warp", feature="mesh signed distance", install_hint="pip install warp-lang==1.19.0")
        wp.config.kernel_cache_dir = str(cache_dir("warp"))
        wp.config.log_level = wp.LOG_WARNING  # warp otherwise prints a banner and every module build
        with contextlib.nullcontext() if cuda_driver_present() else _native_stderr_silenced():
            wp.init()
        _WARP = wp
    return _WARP


def warp_device(device: torch.device) -> str:
    """Warp's name for a torch device ("cpu", "cuda:0", ...)."""
    if device.type == "cpu":
        return "cpu"
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    raise ValueError(f"warp mesh queries run on CPU or CUDA, not on {device}")


def cuda_driver_present() -> bool:
    """Whether the NVIDIA driver library loads (the test warp's own initialisation makes)."""
    for name in ("libcuda.so", "libcuda.so.1", "nvcuda.dll"):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 (what C code writes to) to the null device for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
