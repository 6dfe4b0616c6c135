"""The graph (config/graph.yaml) as `ros2 launch` actions: what every launch/*.launch.py returns.

One DeclareLaunchArgument per graph argument, then an OpaqueFunction that reads their values and builds one
launch_ros Node per resolved node and one IncludeLaunchDescription per include: the very NodeSpecs the runner
(flash_bringup.runner) starts, so the launch files and `flash bringup` cannot drift (tests/test_bringup.py).
Imported only under `ros2 launch` (launch and launch_ros are not on PyPI).
"""

from __future__ import annotations

from launch.actions import (
    DeclareLaunchArgument,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
    SetEnvironmentVariable,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from flash_bringup.graph import MissingInput, NodeSpec, load_graph, read_file_parameters
from launch import LaunchDescription


def graph_launch_description(mode: str) -> LaunchDescription:
    """The launch description of one mode of the installed graph."""
    graph = load_graph()
    declared = [DeclareLaunchArgument(argument.name, default_value=argument.default,
                                      description=argument.description, **_choices(argument.choices))
                for argument in graph.mode(mode).arguments.values()]
    return LaunchDescription([*declared, OpaqueFunction(function=_graph_actions, args=[mode])])


def _choices(choices: tuple[str, ...]) -> dict:
    return {"choices": list(choices)} if choices else {}


def _graph_actions(context, mode: str) -> list:
    graph = load_graph()
    texts = {name: LaunchConfiguration(name).perform(context) for name in graph.mode(mode).arguments}
    resolved = graph.resolve(mode, texts)
    includes = [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare(include.package), "launch",
                                                                include.file])),
            launch_arguments=list(include.arguments.items()))
        for include in resolved.includes]
    environment = [SetEnvironmentVariable(name, value) for name, value in resolved.environment.items()]
    return environment + includes + [_node(spec) for spec in resolved.nodes]


def _node(spec: NodeSpec) -> Node | LogInfo:
    try:
        file_values = read_file_parameters(spec)
    except MissingInput as exc:
        if not spec.optional:
            raise
        return LogInfo(msg=f"skipping {spec.name}: {exc}")  # as the runner does
    parameters = [*spec.parameter_files]
    if spec.parameters or file_values:
        parameters.append({**spec.parameters, **file_values})
    namespace = {"namespace": f"/{spec.namespace.strip('/')}"} if spec.namespace else {}
    return Node(package=spec.package, executable=spec.executable, name=spec.name, **namespace,
                parameters=parameters, remappings=list(spec.remappings), arguments=list(spec.arguments),
                output="screen")
