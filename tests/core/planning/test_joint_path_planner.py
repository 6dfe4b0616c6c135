"""OMPL RRTConnect joint paths around obstacles, re-checked finely by MuJoCo."""

import numpy as np
import pytest
from planning_reference import MujocoContacts

from flash_core.planning import HOME_ARM_Q_RAD, CollisionChecker, Scene, SceneConfig, TableConfig, solve_ik
from flash_core.planning.joint_path import JointPathError, plan_joint_path

# A wall between the home pose and a goal on the robot's left.
WALL = np.stack(np.meshgrid(np.linspace(0.2, 0.8, 31), [0.22], np.linspace(0.0, 1.0, 51)), -1).reshape(-1, 3)


def _bounds(robot, start):
    lower = np.where(robot.continuous, start - np.pi, robot.lower_rad[:7])
    upper = np.where(robot.continuous, start + np.pi, robot.upper_rad[:7])
    return lower, upper


def test_path_around_wall_is_collision_free(robot):
    scene = Scene(SceneConfig(table=TableConfig()), WALL)
    checker = CollisionChecker(robot, scene)
    valid = lambda q: checker.is_valid(robot.full_q(q))  # noqa: E731
    goal_pose = robot.frame_pose(robot.full_q(HOME_ARM_Q_RAD), robot.hand_root_frame)
    goal_pose[:3, 3] = (0.45, 0.42, 0.3)
    goal = solve_ik(robot, goal_pose, HOME_ARM_Q_RAD, is_valid=lambda q: checker.is_valid(q))[0]
    # the straight joint line is blocked, so the planner has to go around
    line = np.linspace(HOME_ARM_Q_RAD, goal, 200)
    assert not all(valid(q) for q in line)
    path = plan_joint_path(valid, HOME_ARM_Q_RAD, goal, *_bounds(robot, HOME_ARM_Q_RAD))
    np.testing.assert_allclose(path[[0, -1]], [HOME_ARM_Q_RAD, goal])
    reference = MujocoContacts(scene.config.table, WALL[::4])
    for a, b in zip(path[:-1], path[1:]):
        n = int(np.ceil(np.abs(b - a).max() / 0.002)) + 1
        for q in np.linspace(a, b, n):
            assert not reference.contacts(dict(zip(robot.joint_names, robot.full_q(q))))


def test_goal_in_collision_is_reported(robot):
    scene = Scene(SceneConfig(table=TableConfig(top_z_m=0.0)))
    checker = CollisionChecker(robot, scene)
    valid = lambda q: checker.is_valid(robot.full_q(q))  # noqa: E731
    into_table = np.array([0.0, 1.6, 0.0, 1.2, 0.0, 1.0, 0.0])
    assert not valid(into_table)
    with pytest.raises(JointPathError, match="goal configuration is in collision"):
        plan_joint_path(valid, HOME_ARM_Q_RAD, into_table, *_bounds(robot, HOME_ARM_Q_RAD))


def test_clear_straight_line_is_returned_without_a_search(robot):
    checker = CollisionChecker(robot, Scene(SceneConfig(table=TableConfig())))
    calls = []

    def valid(q):
        calls.append(q)
        return checker.is_valid(robot.full_q(q))

    goal = HOME_ARM_Q_RAD + np.array([0.3, 0.1, 0.0, 0.2, 0.0, -0.1, 0.4])
    path = plan_joint_path(valid, HOME_ARM_Q_RAD, goal, *_bounds(robot, HOME_ARM_Q_RAD))
    np.testing.assert_allclose(path, [HOME_ARM_Q_RAD, goal])
    # every state on the line was checked at the motion resolution (~0.03 rad here), nothing else
    steps = np.linalg.norm(np.diff(np.array(calls[2:] + [goal]), axis=0), axis=1)
    assert len(calls) > 2 and steps.max() < 0.031
