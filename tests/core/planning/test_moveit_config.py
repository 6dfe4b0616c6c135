"""gen3_leap_moveit_config against the generated URDF and the core planner: names exist, groups form a chain,
limits agree, controllers cover the groups and reach the action servers the robot runs."""

import ast
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import yaml

from flash_core.planning import HOME_ARM_Q_RAD, CollisionChecker, PickConfig, Scene, write_robot_description
from flash_core.planning.description import ARM_ACCELERATION_LIMITS_RAD_S2, ARM_VELOCITY_LIMITS_RAD_S
from flash_core.planning.srdf import TIP_LINK
from flash_core.planning.timing import minimum_jerk

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src/gen3_leap_moveit_config"
CONFIG = PACKAGE / "config"
SRDF = ET.parse(CONFIG / "gen3_leap.srdf").getroot()


def _yaml(name: str) -> dict:
    return yaml.safe_load((CONFIG / name).read_text())


@pytest.fixture(scope="module")
def urdf(tmp_path_factory) -> ET.Element:
    return ET.parse(write_robot_description(tmp_path_factory.mktemp("gen3_leap"))["urdf"]).getroot()


def _joints(urdf) -> dict[str, ET.Element]:
    return {j.get("name"): j for j in urdf.findall("joint")}


def _chain_joints(urdf, base: str, tip: str) -> list[str]:
    """Movable joints from base to tip, walking the URDF tree up from the tip."""
    parent_joint = {j.find("child").get("link"): j for j in urdf.findall("joint")}
    joints, link = [], tip
    while link != base:
        assert link in parent_joint, f"{tip} is not below {base}"
        joint = parent_joint[link]
        if joint.get("type") != "fixed":
            joints.append(joint.get("name"))
        link = joint.find("parent").get("link")
    return joints[::-1]


def _group_joints(urdf, name: str) -> list[str]:
    group = next(g for g in SRDF.findall("group") if g.get("name") == name)
    chain = group.find("chain")
    if chain is not None:
        return _chain_joints(urdf, chain.get("base_link"), chain.get("tip_link"))
    return [j.get("name") for j in group.findall("joint")]


def test_srdf_names_exist_in_the_urdf(urdf, robot):
    links = {link.get("name") for link in urdf.findall("link")}
    named = {SRDF.find("virtual_joint").get("child_link"), SRDF.find("end_effector").get("parent_link")}
    for pair in SRDF.findall("disable_collisions"):
        named |= {pair.get("link1"), pair.get("link2")}
    for chain in SRDF.iter("chain"):
        named |= {chain.get("base_link"), chain.get("tip_link")}
    assert named <= links, named - links
    assert {j.get("name") for g in SRDF.findall("group") for j in g.findall("joint")} <= set(_joints(urdf))
    assert _group_joints(urdf, "manipulator") == list(robot.arm_joint_names)
    assert _group_joints(urdf, "hand") == list(robot.hand_joint_names)
    assert next(SRDF.iter("chain")).get("tip_link") == TIP_LINK == robot.hand_root_frame  # the grasp's wrist frame
    ee = SRDF.find("end_effector")
    assert (ee.get("group"), ee.get("parent_group")) == ("hand", "manipulator")


def test_named_states_are_inside_the_limits_and_collision_free(urdf, robot):
    joints = _joints(urdf)
    states = {}
    for state in SRDF.findall("group_state"):
        values = {j.get("name"): float(j.get("value")) for j in state.findall("joint")}
        assert list(values) == _group_joints(urdf, state.get("group"))
        for name, value in values.items():
            limit = joints[name].find("limit")
            if joints[name].get("type") == "revolute":
                assert float(limit.get("lower")) <= value <= float(limit.get("upper")), (state.get("name"), name)
        states[state.get("name")] = np.array(list(values.values()))
    np.testing.assert_allclose(states["home"], HOME_ARM_Q_RAD, atol=1e-7)  # ros2_kortex's home
    np.testing.assert_array_equal(states["open"], np.zeros(16))
    checker = CollisionChecker(robot, Scene())  # the core's checker with its table
    assert checker.is_valid(robot.full_q(states["home"], states["open"]))


def test_joint_limits_match_the_core_planner_and_the_urdf(urdf, robot):
    limits = _yaml("joint_limits.yaml")["joint_limits"]
    assert set(limits) == set(robot.joint_names)
    joints = _joints(urdf)
    for k, name in enumerate(robot.arm_joint_names):
        assert limits[name]["max_velocity"] == pytest.approx(ARM_VELOCITY_LIMITS_RAD_S[k])
        assert limits[name]["max_acceleration"] == pytest.approx(ARM_ACCELERATION_LIMITS_RAD_S2[k])
        urdf_limit = joints[name].find("limit")
        if urdf_limit is not None:  # continuous joints carry no <limit> in this URDF
            assert float(urdf_limit.get("velocity")) == pytest.approx(ARM_VELOCITY_LIMITS_RAD_S[k])
    # The core's hand moves (minimum jerk over a joint's full range in hand_move_duration_s) fit the hand limits.
    span = robot.upper_rad[robot.n_arm:] - robot.lower_rad[robot.n_arm:]
    move = minimum_jerk(robot.hand_joint_names, np.zeros(16), span, PickConfig().hand_move_duration_s, 0.001)
    velocity = np.diff(move.positions, axis=0) / np.diff(move.times_s)[:, None]
    acceleration = np.diff(velocity, axis=0) / np.diff(move.times_s)[1:, None]
    for k, name in enumerate(robot.hand_joint_names):
        assert limits[name]["has_velocity_limits"] and limits[name]["has_acceleration_limits"]
        assert np.abs(velocity[:, k]).max() <= limits[name]["max_velocity"]
        assert np.abs(acceleration[:, k]).max() <= limits[name]["max_acceleration"]


def test_controllers_cover_the_groups_and_name_the_running_servers(urdf, robot):
    manager = _yaml("moveit_controllers.yaml")["moveit_simple_controller_manager"]
    controllers = {name: manager[name] for name in manager["controller_names"]}
    assert sorted(j for c in controllers.values() for j in c["joints"]) == sorted(robot.joint_names)
    by_joints = {tuple(c["joints"]): name for name, c in controllers.items()}
    arm = by_joints[tuple(_group_joints(urdf, "manipulator"))]
    hand = by_joints[tuple(_group_joints(urdf, "hand"))]
    assert all(c["type"] == "FollowJointTrajectory" for c in controllers.values())
    action = {name: f"/{name}/{c['action_ns']}" for name, c in controllers.items()}
    # The same servers the pick node sends to: ros2_kortex's controller and the LEAP driver in /leap_hand.
    motion = next(iter(yaml.safe_load((ROOT / "config/flash_motion.yaml").read_text()).values()))["ros__parameters"]
    assert action[arm] == motion["arm_action"] == "/joint_trajectory_controller/follow_joint_trajectory"
    assert action[hand] == motion["hand_action"]
    from flash_bringup.graph import load_graph

    real = load_graph().resolve("real", {"robot_ip": "0.0.0.0"})  # what real_robot.launch.py starts
    assert [n.namespace.strip("/") for n in real.nodes if n.executable == "leap_hand_driver"] == [hand]


def test_pipelines_and_plan_requests_resolve(urdf):
    groups = {g.get("name") for g in SRDF.findall("group")}
    ompl = _yaml("ompl_planning.yaml")
    assert ompl["planning_plugins"] == ["ompl_interface/OMPLPlanner"]
    for group in groups:
        assert set(ompl[group]["planner_configs"]) <= set(ompl["planner_configs"])
    assert _yaml("kinematics.yaml").keys() == {"manipulator"}
    pilz = _yaml("pilz_industrial_motion_planner_planning.yaml")
    assert pilz["planning_plugins"] == ["pilz_industrial_motion_planner/CommandPlanner"]
    assert set(_yaml("pilz_cartesian_limits.yaml")["cartesian_limits"]) == {
        "max_trans_vel", "max_trans_acc", "max_trans_dec", "max_rot_vel"}
    moveit_py = _yaml("moveit_py.yaml")
    pipelines = moveit_py["planning_pipelines"]["pipeline_names"]
    assert all((CONFIG / f"{p}_planning.yaml").is_file() for p in pipelines)
    from flash_motion.moveit_backend import MoveItConfig

    for namespace, planner in ((MoveItConfig().free_motion_params, "RRTConnectkConfigDefault"),
                               (MoveItConfig().straight_line_params, "LIN")):
        request = moveit_py[namespace]["plan_request_params"]
        assert request["planning_pipeline"] in pipelines and request["planner_id"] == planner


def test_package_installs_every_file_the_backend_loads():
    from flash_motion import moveit_backend

    source = Path(moveit_backend.__file__).read_text()
    loaded = set(re.findall(r'file_path="(config/[\w.]+)"', source))
    assert len(loaded) == 5 and all((PACKAGE / path).is_file() for path in loaded)
    setup = ast.unparse(ast.parse((PACKAGE / "setup.py").read_text()))
    assert "glob('config/*.yaml') + glob('config/*.srdf')" in setup and "glob('launch/*.launch.py')" in setup
    assert {p.suffix for p in CONFIG.iterdir()} == {".yaml", ".srdf"}
    package_xml = ET.parse(PACKAGE / "package.xml").getroot()
    assert package_xml.get("format") == "3" and package_xml.findtext("name") == PACKAGE.name
    assert (PACKAGE / "resource" / PACKAGE.name).is_file()
    launch = ast.parse((PACKAGE / "launch/move_group.launch.py").read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in launch.body)
    assert "moveit_parameters" in ast.unparse(launch)  # one parameter source for move_group and MoveItPy
