"""The launch files can only run under `ros2 launch` (ROS 2 Jazzy; not on PyPI), so check statically
that everything they name exists: packages, executables, parameter files and the node names keyed in
those files."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
# Launched from other projects, installed on the robot's ROS 2 Jazzy machine.
EXTERNAL_PACKAGES = {"kortex_bringup": ["kortex_control.launch.py"]}


def _our_packages() -> dict[str, set[str]]:
    """package name -> console_scripts executables, from src/*/setup.py."""
    packages = {}
    for setup_py in ROOT.glob("src/*/setup.py"):
        text = setup_py.read_text()
        name = re.search(r'PACKAGE = "([^"]+)"', text).group(1)
        packages[name] = set(re.findall(r'f?"([\w-]+) = \{PACKAGE\}', text))
    return packages


def _calls(tree: ast.AST, func: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == func]


def _literal_kwargs(call: ast.Call) -> dict[str, str]:
    return {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}


def test_bringup_links_the_top_level_folders():
    assert (ROOT / "src/flash_bringup/launch").resolve() == ROOT / "launch"
    assert (ROOT / "src/flash_bringup/config").resolve() == ROOT / "config"
    assert {p.name for p in LAUNCH_FILES} >= {"real_robot.launch.py", "mock_hardware.launch.py"}


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_only_what_exists(launch_file):
    tree = ast.parse(launch_file.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    packages = _our_packages()
    for node in _calls(tree, "Node"):
        kw = _literal_kwargs(node)
        assert kw["package"] in packages, f"{launch_file.name}: unknown package {kw['package']}"
        assert kw["executable"] in packages[kw["package"]], f"{kw['package']} has no {kw['executable']}"
        # The node's parameter file must key the node by the name it is launched with.
        for name in re.findall(r"config\('([^']+)'\)", ast.unparse(node)):  # ast.unparse quotes with '
            params = yaml.safe_load((ROOT / "config" / name).read_text())
            assert any(key.split("/")[-1] == kw["name"] for key in params), f"{name} has no key for {kw['name']}"
    for share in re.findall(r"FindPackageShare\('(\w+)'\), 'launch', '([\w.]+)'", ast.unparse(tree)):
        package, included = share
        if package == "flash_bringup":
            assert (ROOT / "launch" / included).is_file()
        else:
            assert included in EXTERNAL_PACKAGES.get(package, []), f"unexpected include {share}"


def _node_parameters(config_file: str, node_name: str) -> dict:
    params = yaml.safe_load((ROOT / "config" / config_file).read_text())
    return next(v["ros__parameters"] for key, v in params.items() if key.split("/")[-1] == node_name)


def test_real_robot_feeds_the_grasp_server_from_perception():
    tree = ast.parse((ROOT / "launch" / "real_robot.launch.py").read_text())
    launched = {_literal_kwargs(node)["name"]: ast.unparse(node) for node in _calls(tree, "Node")}
    assert {"flash_perception", "flash_grasp_server"} <= launched.keys()
    assert "config('perception.yaml')" in launched["flash_perception"]
    # The target cloud the perception node publishes is the one the grasp server subscribes to.
    published = _node_parameters("perception.yaml", "flash_perception")["object_topic"]
    assert published == _node_parameters("grasp_server.yaml", "flash_grasp_server")["object_topic"]
