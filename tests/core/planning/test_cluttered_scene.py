"""Clutter: a second box beside the target is an obstacle in every stage, retreat included.

The check is independent of the planner's collision model: MuJoCo's own distance query between every hand and
arm geom of the MjSpec assembly and the obstacle as a true box (not its cloud), along each timed segment
densified so that no joint moves more than 2 mrad (< 2 mm at the fingertips) between samples.
"""

import mujoco
import numpy as np
import pytest
from planning_reference import box_cloud

from flash_core.planning import HOME_ARM_Q_RAD, GraspCandidate, OmplPlanner, PickConfig, Scene
from flash_core.planning.collision import OBSTACLES, CollisionChecker
from flash_core.planning.description import assembly_spec

TARGET_CENTER, TARGET_HALF = (0.5, 0.0, 0.06), (0.03, 0.03, 0.06)
CLUTTER_CENTER, CLUTTER_HALF = (0.5, 0.13, 0.06), (0.03, 0.03, 0.06)
TARGET = box_cloud(TARGET_CENTER, TARGET_HALF, n=1500)
CLUTTER = box_cloud(CLUTTER_CENTER, CLUTTER_HALF, n=1500, seed=1)
GRASP_HAND_Q = np.array([0.8, 0.0, 0.6, 0.4] * 3 + [1.2, 0.5, 0.3, 0.3])
MIN_CLEARANCE_M = 0.002


def _pose(xyz, yaw_rad=0.0):
    pose = np.eye(4)  # palm normal down, fingers along +x rotated by yaw about z
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    pose[:2, :2] = [[c, -s], [s, c]]
    pose[:3, 3] = xyz
    return pose


class MujocoClearance:
    """Smallest distance from any robot geom to a box obstacle, from MuJoCo alone."""

    def __init__(self, center_m, half_extent_m):
        spec = assembly_spec()
        spec.worldbody.add_geom(name="clutter", type=mujoco.mjtGeom.mjGEOM_BOX, size=list(half_extent_m),
                                pos=list(center_m))
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.qpos_index = {m.joint(j).name: int(m.jnt_qposadr[j]) for j in range(m.njnt)}
        self.clutter = m.geom("clutter").id
        self.robot_geoms = [g for g in range(m.ngeom) if m.geom_bodyid[g] != 0]

    def distance_m(self, q_by_name: dict[str, float]) -> float:
        for name, value in q_by_name.items():
            self.data.qpos[self.qpos_index[name]] = value
        mujoco.mj_kinematics(self.model, self.data)
        return min(mujoco.mj_geomDistance(self.model, self.data, g, self.clutter, 0.2, None)
                   for g in self.robot_geoms)


@pytest.fixture(scope="module")
def planner(robot):
    return OmplPlanner(PickConfig(), robot)


@pytest.fixture(scope="module")
def plans(planner):
    """Ranked grasps over the target, planned with the clutter as an obstacle. The first, from the far end, has
    its ring finger in the other box when closed (planned without obstacles, its close and lift penetrate it)."""
    far_end = GraspCandidate(_pose((0.54, 0.0, 0.165), np.pi), GRASP_HAND_Q)
    return [planner.plan_pick([far_end, GraspCandidate(_pose((0.46, 0.0, 0.165)), GRASP_HAND_Q)], TARGET,
                              HOME_ARM_Q_RAD, obstacle_points_m=CLUTTER),
            planner.plan_pick([GraspCandidate(_pose((0.46, -0.01, 0.16)), GRASP_HAND_Q)], TARGET, HOME_ARM_Q_RAD,
                              obstacle_points_m=CLUTTER)]


def test_plans_keep_clear_of_the_other_box(plans, robot):
    assert all(r.success for r in plans), [r.rejected for r in plans]
    assert [i for i, _ in plans[0].rejected] == [0] and "obstacles" in plans[0].rejected[0][1]
    reference = MujocoClearance(CLUTTER_CENTER, CLUTTER_HALF)
    checked, closest = 0, np.inf
    for result in plans:
        if not result.success:
            continue
        for segment in result.plan.segments:
            traj = segment.trajectory
            index = [robot.joint_names.index(n) for n in traj.joint_names]
            q = segment.held_q.copy()
            for a, b in zip(traj.positions[:-1], traj.positions[1:]):
                for sample in np.linspace(a, b, int(np.ceil(np.abs(b - a).max() / 0.002)) + 1):
                    q[index] = sample
                    distance = reference.distance_m(dict(zip(robot.joint_names, q)))
                    assert distance > MIN_CLEARANCE_M, (segment.name, distance)
                    closest = min(closest, distance)
                    checked += 1
    assert checked > 1000
    assert closest < 0.1  # the plans pass near the other box (distances are capped at 0.2 m): not vacuous


def test_obstacles_stay_in_the_retreat_scene_and_never_allow_contact(robot):
    scene = Scene(object_points_m=TARGET, obstacle_points_m=CLUTTER)
    carried = scene.without_object()
    assert not carried.has_object and len(carried.obstacle_points_m) == len(CLUTTER)
    checker = CollisionChecker(robot, scene)
    obstacle_pairs = [k for k, (_, env) in enumerate(checker.pair_names) if env == OBSTACLES]
    assert obstacle_pairs and not set(obstacle_pairs) & set(checker.hand_object_pair_indices)
    with pytest.raises(ValueError, match="obstacle cloud"):
        Scene(obstacle_points_m=np.full((3, 3), np.nan))


def test_grasp_approach_direction_and_distance_are_used(planner, robot):
    """A side approach along +y in the base frame, 6 cm long, as a grasp message would give it."""
    grasp = _pose((0.5, -0.02, 0.165))
    candidate = GraspCandidate(grasp, GRASP_HAND_Q, approach_direction_in_base=np.array([0.0, 2.0, 0.0]),
                               pregrasp_distance_m=0.06)
    result = planner.plan_pick([candidate], TARGET, HOME_ARM_Q_RAD)
    assert result.success, result.rejected
    approach = result.plan.segment("approach").trajectory.positions
    palm = lambda arm_q: robot.frame_pose(robot.full_q(arm_q, np.zeros(16)), robot.hand_root_frame)[:3, 3]  # noqa: E731
    np.testing.assert_allclose(palm(approach[0]), grasp[:3, 3] - (0.0, 0.06, 0.0), atol=1.5e-3)
    np.testing.assert_allclose(palm(approach[-1]), grasp[:3, 3], atol=1.5e-3)
    with pytest.raises(ValueError, match="approach direction"):
        GraspCandidate(grasp, GRASP_HAND_Q, approach_direction_in_base=np.zeros(3))
    with pytest.raises(ValueError, match="pregrasp_distance_m"):
        GraspCandidate(grasp, GRASP_HAND_Q, pregrasp_distance_m=-0.1)
