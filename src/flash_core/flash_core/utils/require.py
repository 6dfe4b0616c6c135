"""One helper for optional dependencies, so a missing one fails with a clear message."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependencyError(ImportError):
    """An optional package that a feature needs is not installed on this machine."""


def require_package(module: str, *, feature: str, install_hint: str | None = None) -> ModuleType:
    """Import `module` or raise MissingDependencyError naming the feature and how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = install_hint or f"pip install {module.split('.')[0]}"
        raise MissingDependencyError(
            f"{feature} needs the Python module '{module}', which is not available on this machine "
            f"({exc}). Install it with: {hint}"
        ) from exc
