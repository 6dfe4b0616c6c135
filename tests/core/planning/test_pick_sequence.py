"""Pick sequences: ranked candidates, every segment re-checked by MuJoCo and finite differences."""

import numpy as np
import pytest
from planning_reference import MujocoContacts, box_cloud

from flash_core.planning import (
    HOME_ARM_Q_RAD,
    GraspCandidate,
    MotionPlanner,
    OmplPlanner,
    PickConfig,
    make_planner,
)
from flash_core.planning.description import ARM_ACCELERATION_LIMITS_RAD_S2 as AMAX
from flash_core.planning.description import ARM_VELOCITY_LIMITS_RAD_S as VMAX
from flash_core.utils.require import MissingDependencyError

OBJECT = box_cloud((0.5, 0.0, 0.06), (0.03, 0.03, 0.06), n=1500)
GRASP_HAND_Q = np.array([0.8, 0.0, 0.6, 0.4] * 3 + [1.2, 0.5, 0.3, 0.3])
ORDER = ("open_hand", "to_pregrasp", "approach", "close_hand", "lift", "retreat")


def _pose(xyz):
    pose = np.eye(4)  # palm normal down, fingers along +x
    pose[:3, 3] = xyz
    return pose


@pytest.fixture(scope="module")
def planner(robot):
    return OmplPlanner(PickConfig(), robot)


@pytest.fixture(scope="module")
def result(planner):
    candidates = [
        GraspCandidate(_pose((2.0, 0.0, 0.2)), GRASP_HAND_Q),  # out of reach
        GraspCandidate(_pose((0.45, 0.0, -0.05)), GRASP_HAND_Q),  # under the table top
        GraspCandidate(_pose((0.46, 0.0, 0.165)), GRASP_HAND_Q),  # over the box: feasible
    ]
    return planner.plan_pick(candidates, OBJECT, HOME_ARM_Q_RAD, start_hand_q=np.full(16, 0.2))


def test_first_feasible_candidate_wins_with_reasons(result, planner):
    assert isinstance(planner, MotionPlanner)
    assert result.success and result.plan.candidate_index == 2
    assert [index for index, _ in result.rejected] == [0, 1]
    assert "out of reach" in result.rejected[0][1]
    assert "in collision" in result.rejected[1][1] and "table" in result.rejected[1][1]
    assert tuple(s.name for s in result.plan.segments) == ORDER


def test_segments_chain_and_reach_the_grasp(result, robot, planner):
    plan = result.plan
    seg = {s.name: s for s in plan.segments}
    np.testing.assert_allclose(seg["to_pregrasp"].trajectory.positions[0], HOME_ARM_Q_RAD, atol=1e-9)
    for before, after in (("to_pregrasp", "approach"), ("approach", "lift"), ("lift", "retreat")):
        np.testing.assert_allclose(seg[before].trajectory.positions[-1], seg[after].trajectory.positions[0],
                                   atol=1e-9)
    np.testing.assert_allclose(seg["retreat"].trajectory.positions[-1], HOME_ARM_Q_RAD, atol=1e-9)
    np.testing.assert_allclose(seg["open_hand"].trajectory.positions[-1], 0.0, atol=1e-12)
    # The close squeezes 10 % of (grasp - open) beyond the grasp (the open hand is zero here), within limits.
    np.testing.assert_allclose(seg["close_hand"].trajectory.positions[-1], 1.1 * GRASP_HAND_Q, atol=1e-12)

    palm = lambda arm_q: robot.frame_pose(robot.full_q(arm_q, GRASP_HAND_Q), robot.hand_root_frame)  # noqa: E731
    grasp = palm(seg["approach"].trajectory.positions[-1])
    np.testing.assert_allclose(grasp, _pose((0.46, 0.0, 0.165)), atol=1e-3)
    pregrasp = palm(seg["approach"].trajectory.positions[0])
    # backed off along the palm normal: 10 cm straight up for a palm facing down
    np.testing.assert_allclose(pregrasp[:3, 3], (0.46, 0.0, 0.265), atol=1e-3)
    for q in seg["approach"].trajectory.positions:  # the approach follows the straight line
        assert np.linalg.norm(palm(q)[:2, 3] - (0.46, 0.0)) < 1.5e-3
    lifted = palm(seg["lift"].trajectory.positions[-1])
    assert lifted[2, 3] - grasp[2, 3] == pytest.approx(planner.config.lift_m, abs=1e-3)


def test_every_segment_within_limits_by_finite_differences(result):
    for segment in result.plan.segments:
        traj = segment.trajectory
        if traj.joint_names[0] != "joint_1" or len(traj.times_s) < 3:
            continue
        dt = np.diff(traj.times_s)[:, None]
        vel = np.diff(traj.positions, axis=0) / dt
        acc = np.diff(vel, axis=0) / dt[1:]
        assert np.all(np.abs(vel) <= VMAX * 1.02), segment.name
        assert np.all(np.abs(acc) <= AMAX * 1.02), segment.name
        for j in (1, 3, 5):
            assert np.all(np.abs(traj.positions[:, j]) <= [2.2497, 2.5796, 2.0996][j // 2]), segment.name


def test_every_segment_is_contact_free_in_mujoco(result, robot, planner):
    """Dense (0.002 rad) MuJoCo re-check of the timed trajectories, hand-object contact only where allowed."""
    table = planner.config.scene.table
    with_object = MujocoContacts(table, OBJECT[::3])
    without_object = MujocoContacts(table, np.zeros((0, 3)))
    checked = 0
    for segment in result.plan.segments:
        reference = without_object if segment.name == "retreat" else with_object
        traj = segment.trajectory
        index = [robot.joint_names.index(n) for n in traj.joint_names]
        q = segment.held_q.copy()
        for a, b in zip(traj.positions[:-1], traj.positions[1:]):
            for sample in np.linspace(a, b, int(np.ceil(np.abs(b - a).max() / 0.002)) + 1):
                q[index] = sample
                contacts = reference.contacts(dict(zip(robot.joint_names, q)),
                                              allow_hand_object=segment.allow_hand_object)
                assert not contacts, (segment.name, contacts)
                checked += 1
    assert checked > 1000


def test_no_object_cloud_still_plans(planner):
    result = planner.plan_pick([GraspCandidate(_pose((0.46, 0.0, 0.165)), GRASP_HAND_Q)], np.zeros((0, 3)),
                               HOME_ARM_Q_RAD)
    assert result.success and not result.rejected


def test_all_candidates_infeasible_gives_reasons(planner):
    result = planner.plan_pick([GraspCandidate(_pose((2.0, 0.0, 0.2)), GRASP_HAND_Q)], OBJECT, HOME_ARM_Q_RAD)
    assert not result.success and len(result.rejected) == 1


def test_bad_inputs_fail_clearly(planner):
    nan_pose = _pose((0.5, 0.0, np.nan))
    with pytest.raises(ValueError, match="NaN"):
        GraspCandidate(nan_pose, GRASP_HAND_Q)
    with pytest.raises(ValueError, match="16"):
        GraspCandidate(_pose((0.5, 0.0, 0.2)), np.zeros(15))
    with pytest.raises(ValueError, match="no grasp candidates"):
        planner.plan_pick([], OBJECT, HOME_ARM_Q_RAD)
    with pytest.raises(ValueError, match="object cloud"):
        planner.plan_pick([GraspCandidate(_pose((0.5, 0, 0.2)), GRASP_HAND_Q)], OBJECT[:, :2], HOME_ARM_Q_RAD)
    out_of_limits = GraspCandidate(_pose((0.46, 0.0, 0.165)), np.full(16, 3.0))
    result = planner.plan_pick([out_of_limits], OBJECT, HOME_ARM_Q_RAD)
    assert not result.success and "LEAP limits" in result.rejected[0][1]


def test_moveit_backend_says_it_is_unavailable():
    # make_planner finds the backend in flash_motion; the backend names moveit_py as the missing piece.
    with pytest.raises(MissingDependencyError, match="moveit_py is not available on this machine"):
        make_planner("moveit")


def test_grasps_in_flash_joint_order_are_reordered(robot):
    """FLASH names LEAP joints "0".."15" (official order); the planner uses MJCF order. Map by name."""
    from flash_core.hands.spec import load_spec
    from flash_core.planning import HAND_JOINT_NAMES

    spec = load_spec("leap")
    q_flash = np.linspace(0.01, 0.16, 16)
    candidate = GraspCandidate.from_named_joints(_pose((0.5, 0.0, 0.2)), spec.joint_names, q_flash,
                                                 pregrasp_positions=q_flash / 2)
    for flash_index, model_name in enumerate(spec.model_joint_names):
        assert candidate.hand_q[HAND_JOINT_NAMES.index(model_name)] == q_flash[flash_index]
        assert candidate.pregrasp_hand_q[HAND_JOINT_NAMES.index(model_name)] == q_flash[flash_index] / 2
        # and the planner enforces the hand YAML's (official) limits, not Menagerie's shifted thumb ones
        k = robot.n_arm + HAND_JOINT_NAMES.index(model_name)
        assert (robot.lower_rad[k], robot.upper_rad[k]) == spec.joint_limits[flash_index]
    prefixed = ["leap_" + n for n in HAND_JOINT_NAMES]
    np.testing.assert_array_equal(GraspCandidate.from_named_joints(np.eye(4), prefixed, q_flash).hand_q, q_flash)
    with pytest.raises(ValueError, match="unknown"):
        GraspCandidate.from_named_joints(np.eye(4), ["thumb"] + list(spec.joint_names[1:]), q_flash)


def test_pregrasp_hand_shape_is_held_during_the_approach(planner):
    shape = np.array([0.0, 0.3, 0.3, 0.3] * 3 + [0.8, 0.3, 0.3, 0.3])
    result = planner.plan_pick([GraspCandidate(_pose((0.46, 0.0, 0.165)), GRASP_HAND_Q, shape)], OBJECT,
                               HOME_ARM_Q_RAD)
    assert result.success, result.rejected
    plan = result.plan
    np.testing.assert_allclose(plan.segment("open_hand").trajectory.positions[-1], shape)
    np.testing.assert_allclose(plan.segment("approach").held_q[7:], shape)
    np.testing.assert_allclose(plan.segment("close_hand").trajectory.positions[0], shape)
    # the squeeze goes on beyond the grasp away from the approach shape, not from the open hand
    np.testing.assert_allclose(plan.segment("close_hand").trajectory.positions[-1],
                               GRASP_HAND_Q + 0.1 * (GRASP_HAND_Q - shape), atol=1e-12)  # all within limits


def test_squeeze_target_stays_within_the_hand_limits(planner):
    from flash_core.planning.pick_stages import squeeze_hand_q

    robot = planner.robot
    upper = robot.upper_rad[robot.n_arm:]
    near_limit = upper - 0.01
    squeezed = squeeze_hand_q(robot, np.zeros(16), near_limit, 0.1)
    np.testing.assert_allclose(squeezed, upper)  # 10 % beyond would pass every upper limit
    np.testing.assert_allclose(squeeze_hand_q(robot, np.zeros(16), GRASP_HAND_Q, 0.0), GRASP_HAND_Q)
    with pytest.raises(ValueError, match="squeeze_fraction"):
        squeeze_hand_q(robot, np.zeros(16), GRASP_HAND_Q, -0.1)


def test_retreat_can_hold_the_object_where_the_lift_left_it(robot, result):
    """retreat_to_start=False: no joint path back (it turns the carried object with the hand); the retreat is one
    point at the lift's end, and the stages before it are planned as with the default."""
    holding = OmplPlanner(PickConfig(retreat_to_start=False), robot)
    plan = holding.plan_pick([GraspCandidate(_pose((0.46, 0.0, 0.165)), GRASP_HAND_Q)], OBJECT, HOME_ARM_Q_RAD,
                             start_hand_q=np.full(16, 0.2)).plan
    retreat, lift = plan.segment("retreat").trajectory, plan.segment("lift").trajectory
    assert retreat.positions.shape == (1, 7) and retreat.duration_s == 0.0
    np.testing.assert_allclose(retreat.positions[0], lift.positions[-1], atol=1e-12)
    assert tuple(s.name for s in plan.segments) == ORDER
    # the default returns to the start: its retreat ends elsewhere
    assert np.abs(result.plan.segment("retreat").trajectory.positions[-1] - lift.positions[-1]).max() > 0.1


def test_a_measured_start_hand_a_little_past_its_limits_is_clamped(planner, robot):
    """Fingers pressed on something read a little past their limits: within 0.05 rad the pick plans from the
    limit (the open_hand segment starts there); farther is an error naming the joint and by how much."""
    lower = robot.lower_rad[robot.n_arm:]
    start = np.clip(np.full(16, 0.2), lower, None)
    start[0] = lower[0] - 0.03
    plan = planner.plan_pick([GraspCandidate(_pose((0.46, 0.0, 0.165)), GRASP_HAND_Q)], OBJECT, HOME_ARM_Q_RAD,
                             start_hand_q=start).plan
    assert plan.segment("open_hand").trajectory.positions[0][0] == pytest.approx(lower[0])
    start[0] = lower[0] - 0.2
    name = robot.hand_joint_names[0]
    with pytest.raises(ValueError, match=f"outside the LEAP limits: {name} by 0.200 rad"):
        planner.plan_pick([GraspCandidate(_pose((0.46, 0.0, 0.165)), GRASP_HAND_Q)], OBJECT, HOME_ARM_Q_RAD,
                          start_hand_q=start)
