import numpy as np
import pytest

from flash_core.geometry.force_closure import required_friction


def _pair(tilt_rad: float):
    """Contacts at x = +-3 cm whose outward normals lean up by `tilt_rad`: holding against a downward push then
    takes friction tan(tilt) (the inward normal forces themselves push down)."""
    points = np.array([[[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0]]])
    normals = np.array([[[np.cos(tilt_rad), 0.0, np.sin(tilt_rad)], [-np.cos(tilt_rad), 0.0, np.sin(tilt_rad)]]])
    return points, normals


@pytest.mark.parametrize("tilt_rad", [0.2, 0.3])
def test_a_wedge_needs_friction_tan_tilt(tilt_rad):
    points, normals = _pair(tilt_rad)
    friction = required_friction(points, normals, np.ones((1, 2), bool), np.zeros(3))[0]
    # The 8-sided pyramid inside the cone: exact when an edge points the way needed, else up to 1 / cos(22.5 deg).
    assert np.tan(tilt_rad) - 1 / 128 <= friction <= np.tan(tilt_rad) / np.cos(np.pi / 8) + 1 / 128


def test_contacts_that_cannot_hold_need_infinite_friction():
    points, normals = _pair(0.0)
    one_side = np.array([[[0.03, 0.0, 0.0], [0.03, 0.01, 0.0]]])  # both on +x: nothing pushes back
    same_normals = normals[:, [0, 0]]
    touching = np.ones((1, 2), bool)
    assert np.isinf(required_friction(one_side, same_normals, touching, np.zeros(3))[0])
    assert np.isinf(required_friction(points, normals, np.array([[True, False]]), np.zeros(3))[0])  # one contact
    vanished = normals.copy()
    vanished[0, 1] = 0.0  # an SDF gradient that vanished is no contact
    assert np.isinf(required_friction(points, vanished, touching, np.zeros(3))[0])
    steep = required_friction(*_pair(0.6), touching, np.zeros(3), most=0.5)  # tan 0.6 = 0.68 > most
    assert np.isinf(steep[0])
