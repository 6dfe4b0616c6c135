"""MoveItPyPlanner's orchestration run against a moveit_py test double (moveit_double.py): the stages go to the
right pipelines and scenes, MoveIt-style trajectories come back as chained, validated segments, failures move
on to the next candidate. MoveIt itself is not run here (ROS 2 Jazzy only)."""

import numpy as np
import pytest
from moveit_double import MoveItConfigsBuilder, MoveItPy, PlanningComponent, install
from planning_reference import box_cloud

from flash_core.planning import HOME_ARM_Q_RAD, GraspCandidate, PickConfig
from flash_core.planning.ik import unwrap_near
from flash_core.planning.pick import SEGMENT_LAYOUT
from flash_motion.moveit_backend import MoveItConfig, MoveItPyPlanner, attach_object_msg

# A box a little to the left of the one in test_pick_sequence, grasped from above with a power grasp.
OBJECT = box_cloud((0.5, 0.08, 0.06), (0.03, 0.03, 0.06), n=1200, seed=3)
GRASP = (0.46, 0.08, 0.165)
GRASP_HAND_Q = np.array([0.9, 0.0, 0.5, 0.3] * 3 + [1.1, 0.5, 0.3, 0.3])


def _palm_down_at(xyz) -> np.ndarray:
    """(4, 4) hand-root pose at xyz, palm normal (-z) down, fingers along +x: the base frame's axes."""
    return np.block([[np.eye(3), np.reshape(xyz, (3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]])


@pytest.fixture
def planner(monkeypatch, robot):
    install(monkeypatch, robot)
    # Given paths: the double never reads them, and the cached SRDF computation is not what is tested here.
    return MoveItPyPlanner(PickConfig(), MoveItConfig(urdf_path="/given/gen3_leap.urdf",
                                                      srdf_path="/given/gen3_leap.srdf"), robot=robot)


def test_stages_use_their_pipelines_and_scenes(planner, robot):
    candidates = [GraspCandidate(_palm_down_at((2.0, 0.0, 0.2)), GRASP_HAND_Q),  # out of reach
                  GraspCandidate(_palm_down_at(GRASP), GRASP_HAND_Q)]  # over the box: feasible
    result = planner.plan_pick(candidates, OBJECT, HOME_ARM_Q_RAD, start_hand_q=np.full(16, 0.2))
    assert result.success and result.plan.candidate_index == 1
    assert [i for i, _ in result.rejected] == [0] and "MoveIt ompl/RRTConnectkConfigDefault found no plan" in \
        result.rejected[0][1]
    arm_log = MoveItPy.instances[-1].components["manipulator"].log
    # Three pre-grasp attempts for the unreachable grasp, then the four arm stages of the feasible one:
    # OMPL with the object, the Pilz LIN approach without it (contact allowed), then the object attached to the
    # hand: the Pilz LIN lift off the table (out of the lift's scene) and the OMPL retreat with the table.
    assert arm_log == [("RRTConnectkConfigDefault", ["object", "table"], [])] * 4 + [
        ("LIN", ["table"], []), ("LIN", [], ["object"]), ("RRTConnectkConfigDefault", ["table"], ["object"])]
    monitored = MoveItPy.instances[-1].monitor.scene.objects
    assert sorted(monitored) == ["object", "table"] and len(monitored["object"].primitives) > 50

    plan = result.plan
    assert [s.name for s in plan.segments] == [name for name, _, _ in SEGMENT_LAYOUT]
    arm = [plan.segment(name).trajectory for name in ("to_pregrasp", "approach", "lift", "retreat")]
    for before, after in zip(arm, arm[1:]):  # unwrapped MoveIt trajectories chain without 2*pi jumps
        np.testing.assert_allclose(before.positions[-1], after.positions[0], atol=1e-6)
        assert all(t.joint_names == robot.arm_joint_names for t in (before, after))
    np.testing.assert_allclose(arm[0].positions[0], HOME_ARM_Q_RAD, atol=1e-6)
    end = arm[-1].positions[-1]
    np.testing.assert_allclose(unwrap_near(HOME_ARM_Q_RAD, end, robot.continuous), end, atol=1e-6)
    reached = robot.frame_pose(robot.full_q(plan.arm_q_grasp, GRASP_HAND_Q), robot.hand_root_frame)
    np.testing.assert_allclose(reached[:3, 3], GRASP, atol=1e-3)
    np.testing.assert_allclose(plan.segment("close_hand").trajectory.positions[-1], 1.1 * GRASP_HAND_Q)  # squeeze
    # The parameters came from the package's files.
    assert all(p.is_file() for p in MoveItConfigsBuilder.files if not str(p).startswith("/given/"))


def test_a_failed_moveit_plan_is_retried_with_a_new_pregrasp(planner):
    PlanningComponent.fail_first = 2  # MoveIt fails twice (e.g. IK timeouts), the third attempt plans
    result = planner.plan_pick([GraspCandidate(_palm_down_at(GRASP), GRASP_HAND_Q)], OBJECT, HOME_ARM_Q_RAD)
    assert result.success and not result.rejected
    PlanningComponent.fail_first = 3  # every attempt fails: the candidate is rejected with MoveIt's reason
    result = planner.plan_pick([GraspCandidate(_palm_down_at(GRASP), GRASP_HAND_Q)], OBJECT, HOME_ARM_Q_RAD)
    assert not result.success and "no pre-grasp in 3 MoveIt attempts" in result.rejected[0][1]


def test_the_object_is_attached_to_the_hand_where_the_grasp_holds_it(planner, robot):
    result = planner.plan_pick([GraspCandidate(_palm_down_at(GRASP), GRASP_HAND_Q)], OBJECT, HOME_ARM_Q_RAD)
    assert result.success
    component = MoveItPy.instances[-1].components["manipulator"]
    lifting, carrying = component.scenes[-2:]
    world = MoveItPy.instances[-1].monitor.scene.objects["object"]  # the monitored scene keeps it in the world
    centres = np.array([[p.position.x, p.position.y, p.position.z] for p in world.primitive_poses])
    hand = robot.frame_pose(robot.full_q(result.plan.arm_q_grasp, GRASP_HAND_Q), robot.hand_root_frame)
    for scene in (lifting, carrying):
        in_hand = scene.attached["object"]  # attached at the grasp configuration, not at the start
        np.testing.assert_allclose(in_hand @ hand[:3, :3].T + hand[:3, 3], centres, atol=1e-9)


def test_the_attach_message_names_the_object_the_palm_and_the_hand_links(monkeypatch, robot):
    from moveit_double import AttachedCollisionObject, CollisionObject

    install(monkeypatch, robot)
    msg = attach_object_msg(robot.hand_link_names)
    assert isinstance(msg, AttachedCollisionObject) and msg.link_name == "leap_palm"
    assert msg.touch_links == list(robot.hand_link_names) and "leap_palm" in msg.touch_links
    assert all(not name.startswith("leap_") for name in robot.arm_link_names)  # touch links are the hand only
    assert (msg.object.id, msg.object.operation, msg.object.header.frame_id) == ("object", CollisionObject.ADD,
                                                                                 "base_link")
    assert msg.object.primitives == []  # by id: MoveIt takes the world object's own geometry and pose
