"""Clutter: a second box beside the target is an obstacle in every stage, retreat included; the grasped target
is carried (attached to the hand) through lift and retreat; the table may come from the goal.

The check is independent of the planner's collision model: MuJoCo's own distance query between every hand and
arm geom of the MjSpec assembly and the obstacle as a true box (not its cloud), along each timed segment
densified so that no joint moves more than 2 mrad (< 2 mm at the fingertips) between samples.
"""

import mujoco
import numpy as np
import pytest
from planning_reference import box_cloud

from flash_core.planning import HOME_ARM_Q_RAD, GraspCandidate, OmplPlanner, PickConfig, Scene
from flash_core.planning.cartesian import straight_line
from flash_core.planning.collision import ATTACHED, OBSTACLES, CollisionChecker
from flash_core.planning.description import (
    ARM_ACCELERATION_LIMITS_RAD_S2,
    ARM_VELOCITY_LIMITS_RAD_S,
    assembly_spec,
)
from flash_core.planning.ik import solve_ik
from flash_core.planning.pick_stages import carried_object_checkers
from flash_core.planning.scene import table_from_plane
from flash_core.planning.timing import time_parameterise_polyline
from flash_core.planning.validate import validate_trajectory

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


# A tall target grasped at its top, and a low box where the hand carrying it is sent after the lift: the closed
# hand's lowest point (0.142 m below the palm) stays 3 cm above the low box, the target (hanging 0.225 m below
# the palm) sits 5 cm deep in it.
TALL_CENTER, TALL_HALF = (0.5, 0.0, 0.09), (0.03, 0.03, 0.09)
TALL = box_cloud(TALL_CENTER, TALL_HALF, n=1500, seed=3)
TALL_GRASP = _pose((0.46, 0.0, 0.225))
LOW_CENTER, LOW_HALF = (0.5, -0.25, 0.04), (0.06, 0.06, 0.04)
LOW_BOX = box_cloud(LOW_CENTER, LOW_HALF, n=1500, seed=2)
TOP_GRASP = _pose((0.46, 0.0, 0.165))


def _carried_box_overlap_m(robot, arm_q):
    """Penetration depth of the carried target box (axis-aligned: the grasp keeps the palm level, yaw 0) into
    the low box, from forward kinematics and box arithmetic alone."""
    palm = robot.frame_pose(robot.full_q(arm_q, GRASP_HAND_Q), robot.hand_root_frame)
    centre = palm[:3, 3] + (np.asarray(TALL_CENTER) - TALL_GRASP[:3, 3])
    gap = np.abs(centre - LOW_CENTER) - np.asarray(TALL_HALF) - LOW_HALF
    return -gap.max()


def test_carried_object_keeps_off_obstacles(robot):
    drop_pose = _pose((0.46, -0.25, 0.252))
    drop_q = solve_ik(robot, drop_pose, HOME_ARM_Q_RAD, GRASP_HAND_Q)[0]
    hand_clearance = MujocoClearance(LOW_CENTER, LOW_HALF).distance_m(
        dict(zip(robot.joint_names, robot.full_q(drop_q, GRASP_HAND_Q))))
    # The hand keeps more than the planner's 1 cm margin; the carried object does not.
    assert hand_clearance > 0.025 and _carried_box_overlap_m(robot, drop_q) > 0.04
    grasp = GraspCandidate(TALL_GRASP, GRASP_HAND_Q)
    retreating = OmplPlanner(PickConfig(retreat_arm_q=tuple(drop_q)), robot)
    result = retreating.plan_pick([grasp], TALL, HOME_ARM_Q_RAD, obstacle_points_m=LOW_BOX)
    assert not result.success, "carried the object into the low box"
    reason = result.rejected[0][1]
    assert "retreat" in reason and ATTACHED in reason and "leap_" not in reason, reason  # the object, not the hand
    assert OmplPlanner(PickConfig(), robot).plan_pick([grasp], TALL, HOME_ARM_Q_RAD,
                                                      obstacle_points_m=LOW_BOX).success  # the grasp itself is fine

    # The validator, on its own, flags lowering the carried object straight down onto the low box (the hand
    # stays clear all the way), and only for the object.
    above = drop_pose.copy()
    above[2, 3] += 0.1
    above_q = solve_ik(robot, above, drop_q, GRASP_HAND_Q)[0]
    lowering = straight_line(robot, above_q, GRASP_HAND_Q, np.array([0.0, 0.0, -0.1]), lambda q: True)
    carry = time_parameterise_polyline(robot.arm_joint_names, lowering,
                                       ARM_VELOCITY_LIMITS_RAD_S, ARM_ACCELERATION_LIMITS_RAD_S2)
    scene = Scene(object_points_m=TALL, obstacle_points_m=LOW_BOX)
    _, carrying = carried_object_checkers(robot, scene, grasp, PickConfig())
    held = robot.full_q(above_q, GRASP_HAND_Q)
    report = validate_trajectory(carry, carrying, held)
    assert not report.ok and all(ATTACHED in problem for problem in report.problems), report.problems
    assert validate_trajectory(carry, CollisionChecker(robot, scene.without_object()), held).ok


def test_raised_table_from_the_goal_refuses_a_grasp_below_it(planner, plans, robot):
    plane = np.eye(4)
    plane[:3, 3] = (0.3, 0.2, 0.13)  # any point of the plane; normal +z
    result = planner.plan_pick([GraspCandidate(TOP_GRASP, GRASP_HAND_Q)], TARGET, HOME_ARM_Q_RAD,
                               table_plane_pose=plane)
    assert not result.success and "grasp" in result.rejected[0][1] and "table" in result.rejected[0][1]
    # Independently: on the default table this grasp is planned, and there its fingers reach below 0.13 m.
    grasp_q = robot.full_q(plans[0].plan.arm_q_grasp, GRASP_HAND_Q)
    raised = MujocoClearance((0.5, 0.0, 0.08), (0.15, 0.15, 0.05))  # top at 0.13 m, clear of the arm's base
    assert raised.distance_m(dict(zip(robot.joint_names, grasp_q))) < 0.0


def test_table_from_plane():
    tilted = np.eye(4)
    tilted[:3, :3] = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]  # z axis along -y: a wall
    with pytest.raises(ValueError, match="from vertical"):
        table_from_plane(tilted)
    down = np.diag([1.0, -1.0, -1.0, 1.0])  # z axis pointing down: flipped
    down[:3, 3] = (0.0, 0.0, 0.07)
    table = table_from_plane(down)
    assert table.top_z_m == pytest.approx(0.07) and table.normal_in_base == pytest.approx((0.0, 0.0, 1.0))
    sloped = np.eye(4)
    normal = np.array([0.1, 0.0, 1.0]) / np.linalg.norm([0.1, 0.0, 1.0])
    sloped[:3, 2], sloped[:3, 3] = normal, (0.3, 0.0, 0.05)
    table = table_from_plane(sloped)  # the plane's height at the table centre x = 0.5: 0.05 - 0.1 * 0.2
    assert table.top_z_m == pytest.approx(0.03)
    box, pose = Scene(PickConfig().scene.__class__(table=table)).table_geometry()
    top_centre = pose[:3, 3] + pose[:3, 2] * box.halfSide[2]
    np.testing.assert_allclose(pose[:3, 2], normal)
    np.testing.assert_allclose(top_centre, (0.5, 0.0, 0.03), atol=1e-12)
    with pytest.raises(ValueError, match="plane pose"):
        table_from_plane(np.full((4, 4), np.nan))
