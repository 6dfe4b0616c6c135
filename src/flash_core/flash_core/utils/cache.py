"""Where FLASH keeps downloaded assets, converted weights and compiled kernels."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under the FLASH cache.

    The root is ``$FLASH_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/flash`` or ``~/.cache/flash``.
    """
    root = os.environ.get("FLASH_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flash"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
