"""`NetworkMethod`: the FLASH network behind the grasp-method interface the demo and the ablations judge."""

import numpy as np
import pytest
import trimesh
from flash_training.grasp_methods import Goal, NetworkMethod

from flash_core.flow.solver import SolverConfig
from flash_core.generator import GraspGenerator


@pytest.fixture(scope="module")
def generator():
    return GraspGenerator.from_checkpoint(solver=SolverConfig(method="euler", steps=2))  # the packaged model


def test_a_pool_answers_the_grasps_the_generator_ranks_first(generator):
    points, faces = trimesh.sample.sample_surface(trimesh.creation.cylinder(0.03, 0.1), 1024, seed=0)
    normals = trimesh.creation.cylinder(0.03, 0.1).face_normals[faces]
    goal = Goal("can", "pick up the can", None, points, normals=normals)
    pooled = NetworkMethod(generator, settle=True, pool=3).grasps(goal, 2, seed=7)
    ranked = generator.generate(goal.prompt, points, num_grasps=6, seed=7, object_normals=normals, settle=True)
    assert pooled.shape == (2, 25)
    np.testing.assert_allclose(pooled, np.stack([g.vector for g in ranked[:2]]), atol=1e-6)
    plain = NetworkMethod(generator, settle=True).grasps(goal, 2, seed=7)  # a pool of one: the first two drawn
    assert not np.allclose(plain, pooled)
    with pytest.raises(ValueError, match="pool"):
        NetworkMethod(generator, pool=0)
