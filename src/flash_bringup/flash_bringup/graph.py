"""The FLASH node graph (config/graph.yaml): which nodes each mode starts, with which parameters and remappings.

The launch files (flash_bringup.launch_actions) and the runner (flash_bringup.runner) both turn
`load_graph().resolve(mode, arguments)` into processes, so the two cannot drift. The file's own header documents
its format; this module reads it, checks it and substitutes the launch arguments.

    graph = load_graph()
    resolved = graph.resolve("sim", {"backend": "mujoco", "rviz": "false"})
    [node.name for node in resolved.nodes]   # ['sim', 'trajectory_servers', 'flash_perception', ...]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

PACKAGE = "flash_bringup"
GRAPH_FILE = "graph.yaml"
_SUBSTITUTION = re.compile(r"\$\((\w+)\)")
_BOOL_TEXT = {"true": True, "false": False}
_NUMBER_TYPES = {"int": int, "float": float}
_TYPES = ("str", "bool", *_NUMBER_TYPES)
_NODE_KEYS = {"name", "package", "executable", "namespace", "parameter_files", "parameters", "remappings",
              "file_parameters", "arguments", "optional", "if"}
_INCLUDE_KEYS = {"package", "file", "arguments", "if"}


class GraphError(ValueError):
    """A graph file or a launch argument that is wrong; the message names what and where."""


class MissingInput(GraphError):
    """A file a node's parameter is read from does not exist: an optional node is skipped, another cannot start."""


def config_dir() -> Path:
    """The folder with graph.yaml and the nodes' parameter files.

    share/flash_bringup/config where flash_bringup is installed with colcon (ament index), else the checkout's
    config/ that src/flash_bringup/config links to (the editable install pip makes: no share/ folder).
    """
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        pass
    else:
        try:
            installed = Path(get_package_share_directory(PACKAGE)) / "config"
        except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH (nothing installed with colcon)
            installed = None
        if installed is not None and (installed / GRAPH_FILE).is_file():
            return installed
    checkout = Path(__file__).resolve().parent.parent / "config"  # src/flash_bringup/config -> ../../config
    if not (checkout / GRAPH_FILE).is_file():
        raise GraphError(f"no {GRAPH_FILE}: flash_bringup is neither installed (share/{PACKAGE}/config) "
                         f"nor run from a checkout ({checkout})")
    return checkout


@dataclass(frozen=True)
class Argument:
    """A launch argument: its default as text (what `ros2 launch name:=value` passes) and how to read it."""

    name: str
    default: str
    type: str = "str"  # str | bool | int | float
    choices: tuple[str, ...] = ()
    description: str = ""

    def value(self, text: str) -> str | bool | int | float:
        """The typed value of `text`; GraphError when it is not one of the choices or not of the type."""
        if self.choices and text not in self.choices:
            raise GraphError(f"argument {self.name}:={text!r}: choose one of {', '.join(self.choices)}")
        if self.type == "bool":
            if text.lower() not in _BOOL_TEXT:
                raise GraphError(f"argument {self.name}:={text!r}: expected true or false")
            return _BOOL_TEXT[text.lower()]
        if self.type in _NUMBER_TYPES:
            try:
                return _NUMBER_TYPES[self.type](text)
            except ValueError:
                raise GraphError(f"argument {self.name}:={text!r}: expected a number ({self.type})") from None
        return text


@dataclass(frozen=True)
class NodeSpec:
    """One node as started: parameter files (absolute) first, then `parameters`, as ROS applies them."""

    name: str
    package: str
    executable: str
    namespace: str = ""
    parameter_files: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    file_parameters: dict[str, str] = field(default_factory=dict)  # parameter -> path of the file whose text it is
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()
    optional: bool = False  # may be absent where the graph runs (rviz2): skipped with a line, not an error


def read_file_parameters(spec: NodeSpec) -> dict[str, str]:
    """The values of a node's `file_parameters`: each file's text (relative paths from the working directory)."""
    values = {}
    for name, path in spec.file_parameters.items():
        try:
            values[name] = Path(path).read_text()
        except OSError as exc:
            raise MissingInput(f"node {spec.name}: parameter {name} reads {path}: {exc.strerror}") from exc
    return values


@dataclass(frozen=True)
class IncludeSpec:
    """Another package's launch file with its arguments (text, as launch passes them)."""

    package: str
    file: str
    arguments: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedGraph:
    mode: str
    arguments: dict[str, str]  # every argument's text, defaults filled in
    nodes: tuple[NodeSpec, ...]
    includes: tuple[IncludeSpec, ...]
    environment: dict[str, str] = field(default_factory=dict)  # set for every node (and include)

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.mode} graph has no node {name!r}; it has {[n.name for n in self.nodes]}")


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    arguments: dict[str, Argument]
    nodes: tuple[dict, ...]
    includes: tuple[dict, ...]
    use_sim_time: bool = False
    environment: tuple[tuple[str, str], ...] = ()  # (name, value text) set for every node of the mode


class GraphDescription:
    """The modes of one graph file and the folder its parameter files are in."""

    def __init__(self, modes: dict[str, Mode], config: Path):
        self.modes = modes
        self.config = config

    def mode(self, name: str) -> Mode:
        if name not in self.modes:
            raise GraphError(f"no mode {name!r} in the graph; modes: {', '.join(self.modes)}")
        return self.modes[name]

    def resolve(self, mode: str, arguments: dict[str, str] | None = None) -> ResolvedGraph:
        """The nodes and includes of `mode` for these argument texts (missing ones take their defaults)."""
        spec = self.mode(mode)
        arguments = {key: str(value) for key, value in (arguments or {}).items()}
        unknown = sorted(set(arguments) - set(spec.arguments))
        if unknown:
            raise GraphError(f"{mode}: unknown argument(s) {', '.join(unknown)}; "
                             f"arguments: {', '.join(spec.arguments)}")
        texts = {name: arguments.get(name, argument.default) for name, argument in spec.arguments.items()}
        values = {name: spec.arguments[name].value(text) for name, text in texts.items()}
        substitute = _Substitution(texts, values, self.config)
        nodes = tuple(self._node(raw, substitute, spec.use_sim_time) for raw in spec.nodes
                      if _selected(raw, texts))
        includes = tuple(IncludeSpec(package=raw["package"], file=raw["file"],
                                     arguments={k: substitute.text(v) for k, v in raw.get("arguments", {}).items()})
                         for raw in spec.includes if _selected(raw, texts))
        environment = {name: substitute.text(value) for name, value in spec.environment}
        return ResolvedGraph(mode=mode, arguments=texts, nodes=nodes, includes=includes, environment=environment)

    def _node(self, raw: dict, substitute: _Substitution, use_sim_time: bool) -> NodeSpec:
        parameters = {key: substitute(value) for key, value in raw.get("parameters", {}).items()}
        if use_sim_time:
            parameters["use_sim_time"] = True
        return NodeSpec(
            name=raw["name"], package=raw["package"], executable=raw["executable"],
            namespace=raw.get("namespace", ""),
            parameter_files=tuple(str(self.config / name) for name in raw.get("parameter_files", [])),
            parameters=parameters,
            file_parameters={key: substitute.text(value) for key, value in raw.get("file_parameters", {}).items()},
            remappings=tuple((source, substitute.text(target)) for source, target in raw.get("remappings", {}).items()),
            arguments=tuple(substitute.text(argument) for argument in raw.get("arguments", [])),
            optional=bool(raw.get("optional", False)))


class _Substitution:
    """$(name) -> an argument's text inside a string, its typed value when it is the whole string; $(config)."""

    def __init__(self, texts: dict[str, str], values: dict[str, Any], config: Path):
        self.texts = {**texts, "config": str(config)}
        self.values = {**values, "config": str(config)}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, str):
            return value
        whole = _SUBSTITUTION.fullmatch(value)
        if whole:
            return self.values[whole.group(1)]
        return self.text(value)

    def text(self, value: Any) -> str:
        """Every $(name) replaced by its text: for launch arguments, remappings and command lines."""
        return _SUBSTITUTION.sub(lambda match: self.texts[match.group(1)], str(value))


def _selected(raw: dict, texts: dict[str, str]) -> bool:
    return all(texts[name] == str(value) for name, value in raw.get("if", {}).items())


def load_graph(path: str | Path | None = None) -> GraphDescription:
    """Read and check a graph file (default: the installed config/graph.yaml); GraphError naming the problem.

    Parameter files are looked up beside the graph file.
    """
    path = Path(path) if path is not None else config_dir() / GRAPH_FILE
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise GraphError(f"cannot read the graph {path}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("modes"), dict) or not document["modes"]:
        raise GraphError(f"{path}: expected a mapping with a non-empty 'modes' mapping")
    raw_modes = document["modes"]
    modes = {name: _read_mode(name, raw_modes, path) for name in raw_modes}
    return GraphDescription(modes, path.parent.resolve())


def _read_mode(name: str, raw_modes: dict, path: Path) -> Mode:
    where = f"{path}: mode {name}"
    raw = raw_modes[name]
    if not isinstance(raw, dict):
        raise GraphError(f"{where}: expected a mapping")
    if "base" in raw:
        if raw["base"] not in raw_modes or "base" in raw_modes[raw["base"]]:
            raise GraphError(f"{where}: base {raw['base']!r} must be another mode without a base")
        base = _read_mode(raw["base"], raw_modes, path)
        arguments = dict(base.arguments)
        for key, default in raw.get("defaults", {}).items():
            if key not in arguments:
                raise GraphError(f"{where}: defaults names {key!r}, not an argument of {raw['base']}")
            arguments[key] = replace(arguments[key], default=str(default))
            arguments[key].value(arguments[key].default)
        return Mode(name=name, description=raw.get("description", base.description), arguments=arguments,
                    nodes=base.nodes, includes=base.includes, use_sim_time=base.use_sim_time,
                    environment=base.environment)
    arguments = {}
    for key, spec in raw.get("arguments", {}).items():
        spec = dict(spec or {})
        if "default" not in spec or spec.get("type", "str") not in _TYPES:
            raise GraphError(f"{where}: argument {key} needs a default and a type among {', '.join(_TYPES)}")
        arguments[key] = Argument(name=key, default=str(spec["default"]), type=spec.get("type", "str"),
                                  choices=tuple(str(c) for c in spec.get("choices", ())),
                                  description=spec.get("description", ""))
        arguments[key].value(arguments[key].default)
    nodes = tuple(raw.get("nodes", []))
    includes = tuple(raw.get("includes", []))
    names = [node.get("name") for node in nodes]
    for node in nodes:
        _check_entry(node, _NODE_KEYS, {"name", "package", "executable"}, where, arguments)
    for include in includes:
        _check_entry(include, _INCLUDE_KEYS, {"package", "file"}, where, arguments)
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise GraphError(f"{where}: node names must be unique, repeated: {sorted(duplicates)}")
    environment = raw.get("environment", {})
    if not isinstance(environment, dict) or not all(isinstance(v, str) for v in environment.values()):
        raise GraphError(f"{where}: environment must map variable names to strings")
    return Mode(name=name, description=raw.get("description", ""), arguments=arguments, nodes=nodes,
                includes=includes, use_sim_time=bool(raw.get("use_sim_time", False)),
                environment=tuple(environment.items()))


def _check_entry(entry: Any, allowed: set[str], required: set[str], where: str, arguments: dict) -> None:
    if not isinstance(entry, dict):
        raise GraphError(f"{where}: expected a mapping, got {entry!r}")
    label = entry.get("name") or entry.get("file") or entry
    if required - entry.keys() or entry.keys() - allowed:
        raise GraphError(f"{where}: {label}: needs {sorted(required)}, may have {sorted(allowed - required)}; "
                         f"has {sorted(entry)}")
    used = set(_SUBSTITUTION.findall(yaml.safe_dump(entry))) | set(entry.get("if", {}))
    unknown = used - set(arguments) - {"config"}
    if unknown:
        raise GraphError(f"{where}: {label} uses undeclared argument(s) {sorted(unknown)}")
