"""Objects and grasps shared by the data tests (built once per session)."""

import pytest
from flash_training.data.build import PRESETS
from flash_training.data.objects import ProceduralSource
from flash_training.data.processing import process_object
from flash_training.data.synthesis import synthesize_grasps

from flash_core.hands import make_hand


@pytest.fixture(scope="session")
def allegro_can():
    """(Allegro hand, the tiny-preset can, 6 Allegro grasps (6, 25) optimised on it): what the import tests write
    out as a DexGraspNet download."""
    tiny = PRESETS["tiny"]
    hand = make_hand("allegro")
    can = process_object(ProceduralSource(1).load("can_000"), tiny.processing)
    grasps = synthesize_grasps(hand, can.sdf, can.points, can.normals, 6, tiny.synthesis, seed=0, grid=can.sdf_grid)
    return hand, can, grasps.optimized.detach()
