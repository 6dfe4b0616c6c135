"""Import and initialise NVIDIA warp once, with its kernel cache under the FLASH cache folder."""

from __future__ import annotations

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
