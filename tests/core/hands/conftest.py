"""Hands built once per test session (building samples surfaces: ~1 s per hand)."""

import pytest
import torch

from flash_core.assets import AssetsMissingError
from flash_core.hands import make_hand

HAND_NAMES = ["leap", "allegro"]


@pytest.fixture(scope="session", params=HAND_NAMES)
def hand64(request):
    """The hand built from its fetched MJCF, float64 (skips when the assets were not fetched)."""
    try:
        return make_hand(request.param, dtype=torch.float64)
    except AssetsMissingError as exc:
        pytest.skip(f"assets not fetched: {exc}")
