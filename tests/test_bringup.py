"""The node graph (config/graph.yaml) and the two things that read it: the launch files (`ros2 launch`, not on
PyPI) and the runner (`flash bringup`).

The launch files run here against a recording stand-in for the `launch` / `launch_ros` modules: every action they
build is kept, and the nodes, parameters, remappings and includes they produce are compared with the command
lines the runner would start, for every mode and several argument sets. The graph's names are checked against
what exists: packages, executables, parameter files and the parameter names in them, and the topics that
connect the nodes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import types
from pathlib import Path

import pytest
import yaml
from flash_bringup.graph import GraphError, load_graph
from flash_bringup.runner import ros_arguments

from flash_bringup import command

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = {"sim": "sim.launch.py", "real": "real_robot.launch.py", "mock": "mock_hardware.launch.py"}
# Not FLASH's: installed with ROS 2 on the robot's machine; the runner skips them where absent.
EXTERNAL_NODES = {("rviz2", "rviz2"), ("robot_state_publisher", "robot_state_publisher")}
EXTERNAL_INCLUDES = {("kortex_bringup", "kortex_control.launch.py")}
# (mode, launch arguments): defaults, and each argument that changes the node set or a parameter.
ARGUMENT_SETS = [
    ("sim", {}),
    ("sim", {"backend": "isaaclab", "rviz": "true", "object": "mug", "checkpoint": "/models/flash"}),
    ("sim", {"scene": "clutter", "record_dir": "outputs/frames", "rviz": "false"}),
    ("real", {}),
    ("real", {"robot_ip": "10.0.0.7", "use_fake_hardware": "true", "hand_port": "/dev/ttyUSB1",
              "cloud_topic": "/camera/depth/color/points", "rviz": "false"}),
    ("mock", {}),
    ("mock", {"checkpoint": "runs/mini/model", "rviz": "false"}),
]


# --- a recording stand-in for launch and launch_ros ---------------------------------------------------------
class _Recorded:
    """Keeps its constructor's arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Recorded):
    def perform(self, context) -> str:
        return context.launch_configurations[self.args[0]]


class _Context:
    def __init__(self, launch_configurations: dict[str, str]):
        self.launch_configurations = launch_configurations


def _stand_in_modules() -> dict[str, types.ModuleType]:
    classes = {
        "launch": ["LaunchDescription"],
        "launch.actions": ["DeclareLaunchArgument", "IncludeLaunchDescription", "LogInfo", "OpaqueFunction",
                           "SetEnvironmentVariable"],
        "launch.launch_description_sources": ["PythonLaunchDescriptionSource"],
        "launch.substitutions": ["PathJoinSubstitution"],
        "launch_ros": [],
        "launch_ros.actions": ["Node"],
        "launch_ros.substitutions": ["FindPackageShare"],
    }
    modules = {}
    for name, class_names in classes.items():
        module = types.ModuleType(name)
        for class_name in class_names:
            setattr(module, class_name, type(class_name, (_Recorded,), {}))
        modules[name] = module
    modules["launch.substitutions"].LaunchConfiguration = _LaunchConfiguration
    return modules


@pytest.fixture
def launch_file(monkeypatch):
    """Loads a launch file with the stand-in modules; returns a function mode -> its LaunchDescription."""
    for name, module in _stand_in_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "flash_bringup.launch_actions", raising=False)

    def load(mode: str):
        path = ROOT / "launch" / LAUNCH_FILES[mode]
        spec = importlib.util.spec_from_file_location(f"launch_file_{mode}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.generate_launch_description()

    yield load
    sys.modules.pop("flash_bringup.launch_actions", None)  # built on the stand-ins


def _launch_actions(description, arguments: dict[str, str]) -> list:
    """What `ros2 launch <file> name:=value ...` would run: the declared defaults, overridden, then the opaque
    functions' actions."""
    actions = description.args[0]
    declared = {a.args[0]: a.kwargs["default_value"] for a in actions if type(a).__name__ == "DeclareLaunchArgument"}
    unknown = set(arguments) - set(declared)
    assert not unknown, f"not declared by the launch file: {unknown}"
    context = _Context({**declared, **arguments})
    produced = []
    for action in actions:
        if type(action).__name__ == "OpaqueFunction":
            produced += action.kwargs["function"](context, *action.kwargs.get("args", []))
    return produced


def _launch_node_command(node) -> tuple[tuple, list[str]]:
    """(package, executable), and the ROS command line a launch_ros Node means, written as the runner writes it."""
    kw = node.kwargs
    args = [*kw.get("arguments", []), "--ros-args", "-r", f"__node:={kw['name']}"]
    if kw.get("namespace"):
        args += ["-r", f"__ns:={kw['namespace']}"]
    files = [p for p in kw["parameters"] if isinstance(p, str)]
    overrides = [p for p in kw["parameters"] if isinstance(p, dict)]
    for path in files:
        args += ["--params-file", path]
    for values in overrides:
        for name, value in values.items():
            args += ["-p", f"{name}:={json.dumps(value)}"]
    for source, target in kw.get("remappings", []):
        args += ["-r", f"{source}:={target}"]
    return (kw["package"], kw["executable"]), args


def _include(action) -> tuple[str, str, dict]:
    """(package, launch file, arguments) of an IncludeLaunchDescription of FindPackageShare(package)/launch/file."""
    share, folder, file = action.args[0].args[0].args[0]
    assert folder == "launch"
    return share.args[0], file, dict(action.kwargs["launch_arguments"])


@pytest.mark.parametrize(("mode", "arguments"), ARGUMENT_SETS, ids=lambda v: str(v))
def test_launch_file_starts_what_the_runner_starts(launch_file, mode, arguments, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the real graph's robot_state_publisher reads urdf/gen3_leap.urdf from here
    (tmp_path / "urdf").mkdir()
    (tmp_path / "urdf" / "gen3_leap.urdf").write_text('<robot name="gen3_leap"/>')
    produced = _launch_actions(launch_file(mode), arguments)
    launched = {node.kwargs["name"]: node for node in produced if type(node).__name__ == "Node"}
    # The runner's side: the command-line options of `flash bringup MODE`, parsed as the command parses them.
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    cli = parser.parse_args([mode, *(item for name, value in arguments.items()
                                     for item in (f"--{name.replace('_', '-')}", value))])
    resolved = load_graph().resolve(mode, command.graph_arguments(cli))
    assert resolved.arguments == {**load_graph().resolve(mode).arguments, **arguments}
    assert launched.keys() == {spec.name for spec in resolved.nodes}
    for spec in resolved.nodes:
        node = launched[spec.name]
        if spec.file_parameters:  # the runner passes a file's text (a URDF) through a file, launch inline
            assert node.kwargs["parameters"] == [{**spec.parameters, "robot_description": '<robot name="gen3_leap"/>'}]
            spec = type(spec)(**{**spec.__dict__, "file_parameters": {}})
            node = type(node)(**{**node.kwargs, "parameters": []})
        assert _launch_node_command(node) == ((spec.package, spec.executable),
                                              [*spec.arguments, *ros_arguments(spec)]), spec.name
    includes = [_include(action) for action in produced if type(action).__name__ == "IncludeLaunchDescription"]
    assert includes == [(i.package, i.file, i.arguments) for i in resolved.includes]
    environment = {a.args[0]: a.args[1] for a in produced if type(a).__name__ == "SetEnvironmentVariable"}
    assert environment == resolved.environment
    # sim: a SIGKILLed pick node is noticed in 2 s (the trajectory servers then hold the arm); both: servers wait
    # for a new client's reply reader
    profile = {"sim": "fastdds_sim.xml", "real": "fastdds_services.xml", "mock": "fastdds_services.xml"}[mode]
    assert Path(environment["FASTDDS_DEFAULT_PROFILES_FILE"]).name == profile


def test_the_modes_start_the_nodes_the_arguments_ask_for(launch_file):
    def names(mode, arguments):
        return [n.kwargs["name"] for n in _launch_actions(launch_file(mode), arguments) if type(n).__name__ == "Node"]

    assert names("sim", {}) == ["sim", "trajectory_servers", "flash_perception", "flash_grasp_server", "flash_motion"]
    # Isaac Sim provides the topics itself; RViz only when asked.
    assert "sim" not in names("sim", {"backend": "isaaclab"})
    assert names("sim", {"rviz": "true"})[-1] == "rviz"
    real = load_graph().resolve("real", {"use_fake_hardware": "true"})
    assert real.node("leap_hand_driver").parameters["use_fake_hardware"] is True
    assert real.includes[0].arguments["use_fake_hardware"] == "true"
    assert load_graph().resolve("mock").arguments["use_fake_hardware"] == "true"
    assert all(spec.parameters["use_sim_time"] is True for spec in load_graph().resolve("sim").nodes)
    assert "use_sim_time" not in real.node("flash_motion").parameters


def test_an_optional_node_whose_input_file_is_missing_is_skipped_by_name(launch_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no urdf/gen3_leap.urdf here
    produced = _launch_actions(launch_file("mock"), {})
    assert "robot_state_publisher" not in [a.kwargs["name"] for a in produced if type(a).__name__ == "Node"]
    assert [a.kwargs["msg"] for a in produced if type(a).__name__ == "LogInfo"] == [
        "skipping robot_state_publisher: node robot_state_publisher: parameter robot_description reads "
        "urdf/gen3_leap.urdf: No such file or directory"]


def _our_executables() -> dict[str, set[str]]:
    """package name -> console_scripts executables, from src/*/setup.py."""
    packages = {}
    for setup_py in ROOT.glob("src/*/setup.py"):
        text = setup_py.read_text()
        name = re.search(r'PACKAGE = "([^"]+)"', text).group(1)
        packages[name] = set(re.findall(r'"([\w-]+) = \{PACKAGE\}', text))
    return packages


def _every_node():
    graph = load_graph()
    for mode, arguments in ARGUMENT_SETS:
        resolved = graph.resolve(mode, arguments)
        yield from ((mode, spec) for spec in resolved.nodes)


def _flatten(parameters: dict, prefix: str = "") -> set[str]:
    names = set()
    for key, value in parameters.items():
        names |= _flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"}
    return names


def test_the_graph_names_only_what_exists():
    executables = _our_executables()
    for mode, spec in _every_node():
        where = f"{mode}/{spec.name}"
        if (spec.package, spec.executable) in EXTERNAL_NODES:
            assert spec.optional, f"{where}: a node FLASH does not ship must be optional"
            continue
        assert spec.executable in executables.get(spec.package, ()), f"{where}: {spec.package} has no {spec.executable}"
        declared = set()
        for path in spec.parameter_files:
            params = yaml.safe_load(Path(path).read_text())
            keys = [key for key in params if key.split("/")[-1] == spec.name]
            assert keys, f"{where}: {Path(path).name} has no key for the node name {spec.name}"
            declared |= _flatten(params[keys[0]]["ros__parameters"])
        # An override of a name the file does not have would be a typo the node silently ignores.
        assert set(spec.parameters) - {"use_sim_time"} <= declared, f"{where}: overrides {set(spec.parameters)}"
    for mode in load_graph().modes:
        for include in load_graph().resolve(mode).includes:
            assert (include.package, include.file) in EXTERNAL_INCLUDES
    assert (ROOT / "config" / "flash.rviz").is_file()


def _parameters(config_file: str, node_name: str) -> dict:
    params = yaml.safe_load((ROOT / "config" / config_file).read_text())
    return next(v["ros__parameters"] for key, v in params.items() if key.split("/")[-1] == node_name)


def test_the_sim_graph_connects_on_the_isaac_sim_topics():
    sim = load_graph().resolve("sim")
    # perception reads the simulated depth camera and feeds the grasp server and the pick node
    assert sim.node("flash_perception").parameters["cloud_topic"] == "/camera/depth/points"
    assert (_parameters("perception.yaml", "flash_perception")["object_topic"]
            == _parameters("grasp_server.yaml", "flash_grasp_server")["object_topic"] == "object_cloud")
    # the pick node's actions are the ones the trajectory servers serve
    servers = _parameters("sim_trajectory_servers.yaml", "trajectory_servers")
    motion = _parameters("flash_motion.yaml", "flash_motion")
    arm_action = "/joint_trajectory_controller/follow_joint_trajectory"
    assert motion["arm_action"] == servers["arm"]["action_name"] == arm_action
    assert motion["hand_action"] == servers["hand"]["action_name"] == "/leap_hand/follow_joint_trajectory"
    assert motion["hand_joint_names"] == servers["hand"]["joints"]


def test_bringup_links_the_top_level_folders():
    assert (ROOT / "src/flash_bringup/launch").resolve() == ROOT / "launch"
    assert (ROOT / "src/flash_bringup/config").resolve() == ROOT / "config"
    assert {p.name for p in (ROOT / "launch").glob("*.launch.py")} == set(LAUNCH_FILES.values())


@pytest.mark.parametrize(("mode", "arguments", "message"), [
    ("sim", {"backend": "gazebo"}, "choose one of mujoco, isaaclab"),
    ("sim", {"rviz": "yes"}, "expected true or false"),
    ("sim", {"robot_ip": "1.2.3.4"}, "unknown argument(s) robot_ip"),
    ("simulation", {}, "no mode 'simulation'"),
])
def test_bad_arguments_are_refused_by_name(mode, arguments, message):
    with pytest.raises(GraphError, match=re.escape(message)):
        load_graph().resolve(mode, arguments)


def test_a_graph_file_with_a_mistake_is_refused_by_name(tmp_path):
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({"modes": {"sim": {"nodes": [
        {"name": "a", "package": "flash_ros", "executable": "static_frames", "parameters": {"x": "$(nope)"}}]}}}))
    with pytest.raises(GraphError, match=r"a uses undeclared argument\(s\) \['nope'\]"):
        load_graph(path)
    path.write_text(yaml.safe_dump({"modes": {"sim": {"nodes": [{"name": "a", "package": "flash_ros"}]}}}))
    with pytest.raises(GraphError, match="needs"):
        load_graph(path)
