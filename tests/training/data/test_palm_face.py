"""The synthesis's hand axes: the palm face is the root link's collision face, centred under the fingers, for every
hand (the Allegro's thumb once tilted the fingertip direction and moved the face's centre 5 cm to one edge)."""

import numpy as np
import pytest
import torch
from flash_training.data.synthesis import hand_axes, palm_face

from flash_core.hands import make_hand
from flash_core.hands.collision import hand_collision


@pytest.fixture(scope="module", params=["leap", "allegro"])
def hand(request):
    return make_hand(request.param, dtype=torch.float64)


def test_the_palm_normal_is_a_collision_face_normal_on_the_fingers_side(hand):
    normal, centre = palm_face(hand)
    pieces = hand_collision(hand).pieces
    root = pieces.link_index == hand.link_names.index(hand.spec.root_body)
    planes = pieces.plane_normal[root].reshape(-1, 3)
    assert np.abs(planes @ normal.numpy()).max() > 1 - 1e-9  # exactly one of the root link's face normals
    assert float(normal @ hand.palm_frame().normal) > np.cos(np.radians(30))
    # Nothing of the root link's collision geometry stands out of the face (LEAP's boxes differ by 0.1 mm).
    assert (pieces.triangles[np.isin(pieces.triangle_piece, np.flatnonzero(root))].reshape(-1, 3)
            @ normal.numpy()).max() <= float(centre @ normal) + 5e-4


def test_the_face_centre_lies_under_the_middle_of_the_fingers(hand):
    normal, along, lateral, centre = hand_axes(hand)
    assert abs(float(normal @ along)) < 1e-9 and abs(float(torch.linalg.norm(lateral)) - 1) < 1e-9
    fingers = hand.contact_finger_index != hand.finger_names.index("thumb")
    with torch.no_grad():
        tips = hand.contact_candidates(hand.open_pose(1))[0, fingers]  # (K, 3) straight fingers
    middle = (tips.amin(0) + tips.amax(0)) / 2
    # Across the fingers, the face centre sits within 15 mm of their middle (it sat 54 mm off on the Allegro).
    assert abs(float((centre - middle) @ lateral)) < 0.015
    # ... and back from the fingertips towards the wrist.
    assert float((middle - centre) @ along) > 0.05
