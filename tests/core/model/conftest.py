"""Session fixtures for the model tests: the real LEAP hand model and the real SmolLM2."""

import pytest

from flash_core.hands import make_hand
from flash_core.model.text_backbone import TextBackboneConfig, load_text_backbone


@pytest.fixture(scope="session")
def leap_hand():
    return make_hand("leap", num_surface_points=256, allow_primitives=True)


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2 from the installed wheel (dequantised once, then read from the FLASH cache)."""
    return load_text_backbone(TextBackboneConfig())
