"""Grasp pictures: the object and the posed hand both show up, in the right place of the tile."""

import numpy as np
import pytest
import trimesh

from flash_core.hands import make_hand
from flash_core.sim.render import View, render_grasps

pytest.importorskip("mujoco")


def _orange(image):  # the object's colour, lit: strong red, medium green, little blue
    r, g, b = (image[..., c].astype(int) for c in range(3))
    return (r > 150) & (g > 60) & (g < 200) & (b < 90)


def _dark(image):  # the LEAP hand's black plastic
    return image.max(-1) < 60


def test_object_and_hand_are_drawn_per_tile():
    hand = make_hand("leap")
    x = hand.open_pose(2).numpy()
    x[0, :3] = [-0.05, -0.05, 0.0]  # the hand next to the ball
    x[1, :3] = [5.0, 5.0, 5.0]  # the hand far out of view
    mesh = trimesh.creation.icosphere(radius=0.04)
    image = render_grasps("leap", x, mesh, size=160, views=(View(), View(azimuth_deg=45.0)))
    assert image.shape == (2 * 160, 2 * 160, 3) and image.dtype == np.uint8
    near, far = image[:160, :160], image[:160, 160:]
    assert _orange(near).mean() > 0.01 and _dark(near).mean() > 0.05
    assert _dark(far).mean() < 0.001  # nothing but sky where the ball cannot be seen either
    assert not np.array_equal(image[:160, :160], image[160:, :160]), "the two views must differ"
    again = render_grasps("leap", x[:1], mesh, size=160)
    np.testing.assert_array_equal(again, near)


def test_bad_poses_and_meshes_are_named():
    mesh = trimesh.creation.icosphere(radius=0.04)
    with pytest.raises(ValueError, match="25"):
        render_grasps("leap", np.zeros((1, 24)), mesh)
    with pytest.raises(ValueError, match="finite"):
        render_grasps("leap", np.full((1, 25), np.nan), mesh)
    with pytest.raises(ValueError, match="no faces"):
        render_grasps("leap", make_hand("leap").open_pose(1).numpy(), trimesh.Trimesh())
    with pytest.raises(KeyError, match="unknown hand"):
        render_grasps("shadow", np.zeros((1, 25)), mesh)
