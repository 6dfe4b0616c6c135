"""Refinement and synthesis against an object's SDF, with penetration measured independently by trimesh."""

import numpy as np
import pytest
import torch
import trimesh
from flash_training.assess import AssessedObject, assess_grasps
from flash_training.data.contacts import centre_of_mass, link_contacts
from flash_training.data.grasp_energy import force_closure_error
from flash_training.data.objects import ProceduralSource
from flash_training.data.processing import ProcessingConfig, process_object
from flash_training.data.refine import refine_grasps
from flash_training.data.synthesis import (
    OFF_TARGET_PENALTY,
    SynthesisConfig,
    initial_poses,
    rank_candidates,
    synthesize_grasps,
)

from flash_core.hands import make_hand


@pytest.fixture(scope="module")
def hand():
    return make_hand("leap")


@pytest.fixture(scope="module")
def can():
    return process_object(
        ProceduralSource(1).load("can_000"), ProcessingConfig(num_points=512, oversample=4, sdf_resolution=48)
    )


def max_penetration_by_trimesh(hand, x, mesh):
    points = hand.surface_points(x).detach().numpy()
    depth = [np.clip(trimesh.proximity.signed_distance(mesh, p), 0, None).max() for p in points]  # trimesh: + inside
    return np.array(depth)


def test_refinement_removes_penetration_of_perturbed_grasps(hand, can):
    generator = torch.Generator().manual_seed(0)
    pick = torch.randint(len(can.points), (4,), generator=generator)
    # The grasp centre 35 mm INSIDE the surface: a badly perturbed grasp.
    pushed = SynthesisConfig(gap_m=-0.035, jitter_rad=0.0)
    x = initial_poses(
        hand,
        torch.as_tensor(can.points[pick]),
        torch.as_tensor(can.normals[pick]),
        pushed,
        generator,
    )
    before = max_penetration_by_trimesh(hand, x, can.asset.mesh)
    refined = refine_grasps(hand, x, can.sdf, can.sdf_grid)
    after = max_penetration_by_trimesh(hand, refined, can.asset.mesh)
    assert (before > 0.005).all()
    assert (after < before * 0.5).all() and np.median(after) < 0.003
    # The prior keeps the refined hand near where it was (35 mm deep needs a few centimetres to get out).
    shift = (refined[:, :3] - x[:, :3]).norm(dim=-1)
    assert shift.median() < 0.05 and shift.max() < 0.1
    assert (refined[:, 9:] >= hand.joint_lower - 1e-6).all() and (refined[:, 9:] <= hand.joint_upper + 1e-6).all()


def test_candidates_off_their_target_part_rank_last(hand):
    """A grasp meant for one part (so that "hold the handle" is true) is chosen among candidates that touch it:
    a candidate touching none of its target points ranks behind every one that does."""
    mug = process_object(
        ProceduralSource(1).load("mug_000"), ProcessingConfig(num_points=512, oversample=4, sdf_resolution=48)
    )
    handle = mug.point_parts == mug.asset.part_names.index("handle")
    result = synthesize_grasps(hand, mug.sdf, mug.points, mug.normals, 4, SynthesisConfig(oversample=2), seed=1,
                               target_masks=np.tile(handle, (4, 1)), grid=mug.sdf_grid)
    x = result.optimized.detach()
    centre = centre_of_mass(mug.asset.mesh.vertices, mug.asset.mesh.faces)
    free = rank_candidates(hand, x, mug.sdf, centre, 0.0035)
    everywhere = rank_candidates(hand, x, mug.sdf, centre, 0.0035, targets=[mug.points] * len(x))
    far = rank_candidates(hand, x, mug.sdf, centre, 0.0035, targets=[np.array([[1.0, 0.0, 0.0]])] * len(x))
    touching = link_contacts(hand, x, mug.sdf).distance_m.min(1) < 0.0035
    assert touching.any()
    np.testing.assert_array_equal(everywhere[touching], free[touching])  # every touch is on a target point
    np.testing.assert_array_equal(far, free + OFF_TARGET_PENALTY)  # nothing touches a point a metre away
    # What the grasps touch is labelled from the mesh's faces, whatever they were aimed at.
    after = assess_grasps(hand, x, AssessedObject.from_processed(mug))
    assert set(np.unique(after.finger_parts)) <= {-1, *range(len(mug.asset.part_names))}
    for accepted, pen, self_pen in zip(after.accepted, after.max_penetration_m, after.self_penetration_m, strict=True):
        assert accepted <= bool(pen < 0.002 and self_pen < 0.002)  # nothing passes with 2 mm or more inside


def test_force_closure_is_zero_for_opposed_contacts():
    points = torch.tensor([[[0.05, 0, 0], [-0.05, 0, 0]]])
    inward = torch.tensor([[[-1.0, 0, 0], [1.0, 0, 0]]])
    assert force_closure_error(points, inward).item() == pytest.approx(0.0, abs=1e-12)
    same_side = torch.tensor([[[-1.0, 0, 0], [-1.0, 0, 0]]])
    assert force_closure_error(points, same_side).item() == pytest.approx(4.0)
