"""The arm's reach ball: every reachable hand-root position lies in it, and poses outside are rejected unplanned."""

import numpy as np

from flash_core.planning import HOME_ARM_Q_RAD, GraspCandidate, OmplPlanner, solve_ik


def _hand_root_positions(robot, n, seed=0):
    rng = np.random.default_rng(seed)
    arm = rng.uniform(robot.lower_rad[:7], robot.upper_rad[:7], (n, 7))
    return np.array([robot.frame_pose(robot.full_q(q), robot.hand_root_frame)[:3, 3] for q in arm])


def test_every_sampled_configuration_lies_inside_and_the_ball_is_tight(robot):
    centre, radius = robot.hand_reach_ball_m
    distances = np.linalg.norm(_hand_root_positions(robot, 2000) - centre, axis=1)
    assert distances.max() <= radius
    assert distances.max() > 0.95 * radius  # a loose ball would let far candidates through to the IK


def test_poses_just_outside_have_no_ik_solution(robot):
    centre, radius = robot.hand_reach_ball_m
    rng = np.random.default_rng(1)
    for _ in range(5):
        direction = rng.normal(size=3)
        pose = np.eye(4)
        pose[:3, 3] = centre + 1.01 * radius * direction / np.linalg.norm(direction)
        assert robot.hand_root_out_of_reach(pose)
        assert solve_ik(robot, pose, HOME_ARM_Q_RAD) == []  # the same verdict the full IK gives


def test_planner_rejects_an_out_of_reach_candidate_by_its_radius(robot):
    grasp = np.eye(4)
    grasp[:3, 3] = (0.5, 0.0, 0.1)
    candidate = GraspCandidate(grasp, np.zeros(16), pregrasp_distance_m=1.2,
                               approach_direction_in_base=np.array([0.0, 0.0, -1.0]))  # pre-grasp 1.3 m up
    result = OmplPlanner(robot=robot).plan_pick([candidate], np.zeros((0, 3)), HOME_ARM_Q_RAD)
    assert not result.success
    assert "pre-grasp pose out of reach (beyond the arm's reach radius)" in result.rejected[0][1]
