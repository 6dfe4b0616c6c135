"""A test double of the moveit_py surface MoveItPyPlanner uses, planning with the core's own pieces.

Not MoveIt: it lets the backend's orchestration (scenes, stage order, goals, pipelines, trajectory conversion,
segment layout, validation) run here. It keeps moveit_py's call signatures as read from moveit2's bindings
(MoveItPy(node_name, config_dict), PlanningComponent.set_start_state/set_goal_state/plan(single_plan_parameters,
planning_scene), PlanRequestParameters(moveit, namespace), PlanningScene.apply_collision_object/
process_attached_collision_object/current_state/__copy__, RobotState.joint_positions/update) and MoveIt's
habits the backend must cope with: trajectories list joints in their own order and continuous joints wrapped to
[-pi, pi]. "Pipelines": OMPL = core IK + core OMPL path;
Pilz LIN = the core's 1 mm straight line; both timed by toppra within the core's limits. An attached object is
carried as MoveIt does: taken from the world at its pose relative to the link in the scene's current state, then
collided (by its box centres, as the world object) with what stays in the world.
"""

from __future__ import annotations

import copy
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import yaml

from flash_core.planning import CollisionChecker, Scene, SceneConfig, solve_ik
from flash_core.planning.cartesian import straight_line
from flash_core.planning.description import ARM_ACCELERATION_LIMITS_RAD_S2, ARM_VELOCITY_LIMITS_RAD_S
from flash_core.planning.joint_path import plan_joint_path
from flash_core.planning.timing import TimingConfig, time_parameterise_polyline, time_parameterise_spline

PACKAGE = Path(__file__).resolve().parents[3] / "src/gen3_leap_moveit_config"


class Msg(SimpleNamespace):
    """A ROS message look-alike: keyword fields, a header with a frame."""

    def __init__(self, **fields):
        fields.setdefault("header", SimpleNamespace(frame_id=""))
        super().__init__(**fields)


class CollisionObject(Msg):
    ADD, REMOVE = 0, 1

    def __init__(self, **fields):
        super().__init__(**{"primitives": [], "primitive_poses": [], **fields})


class AttachedCollisionObject(SimpleNamespace):
    def __init__(self, **fields):
        super().__init__(**{"link_name": "", "object": CollisionObject(), "touch_links": [], **fields})


class SolidPrimitive(Msg):
    BOX = 1


class MoveItConfigsBuilder:
    """Records the files it is asked for and loads the package's YAML like moveit_configs_utils does."""

    files: list[Path] = []

    def __init__(self, robot_name, package_name):
        self.params: dict = {}

    def _load(self, file_path, key=None):
        path = PACKAGE / file_path  # absolute paths stay absolute, as in the real builder
        MoveItConfigsBuilder.files.append(path)
        if path.suffix == ".yaml":
            content = yaml.safe_load(path.read_text())
            self.params.update({key: content} if key else content)
        return self

    def __getattr__(self, name):
        if name == "moveit_cpp":
            return lambda file_path: self._load(file_path)
        if name == "planning_pipelines":
            return lambda **kw: self
        return lambda file_path: self._load(file_path, name)

    def to_moveit_configs(self):
        return self

    def to_dict(self):
        return self.params


class RobotState:
    def __init__(self, robot_model):
        self.joint_positions: dict[str, float] = {}

    def update(self):
        pass


class PlanningScene:
    def __init__(self):
        self.objects: dict[str, CollisionObject] = {}
        self.attached: dict[str, np.ndarray] = {}  # id -> (K, 3) box centres in the link's frame
        self.current_state = RobotState(None)

    def remove_all_collision_objects(self):
        self.objects.clear()

    def apply_collision_object(self, collision_object_msg, color_msg=None):
        assert collision_object_msg.header.frame_id == "base_link"
        if collision_object_msg.operation == CollisionObject.REMOVE:
            del self.objects[collision_object_msg.id]
        else:
            self.objects[collision_object_msg.id] = collision_object_msg

    def process_attached_collision_object(self, object):
        """ADD of an object in the world by id, as MoveIt's pick-and-place tutorial attaches: it leaves the world
        and stays where it is relative to the link, at the scene's current state."""
        robot = PlanningComponent.robot
        assert object.link_name == "leap_palm" and object.object.operation == CollisionObject.ADD
        assert object.object.header.frame_id == "base_link" and not object.object.primitives  # the world's geometry
        assert set(object.touch_links) <= set(robot.hand_link_names) and object.link_name in object.touch_links
        world = self.objects.pop(object.object.id)
        q = np.array([self.current_state.joint_positions[n] for n in robot.joint_names])
        link = robot.frame_pose(q, robot.hand_root_frame)
        centres = np.array([[p.position.x, p.position.y, p.position.z] for p in world.primitive_poses])
        self.attached[object.object.id] = (centres - link[:3, 3]) @ link[:3, :3]

    def __copy__(self):
        clone = PlanningScene()
        clone.objects, clone.attached = copy.deepcopy(self.objects), copy.deepcopy(self.attached)
        clone.current_state.joint_positions = dict(self.current_state.joint_positions)
        return clone


class PlanningSceneMonitor:
    def __init__(self):
        self.scene = PlanningScene()

    @contextmanager
    def read_write(self):
        yield self.scene

    read_only = read_write


class PlanRequestParameters:
    def __init__(self, moveit, namespace):
        for key, value in moveit.config_dict[namespace]["plan_request_params"].items():
            setattr(self, key, value)


class MoveItPy:
    instances: list["MoveItPy"] = []

    def __init__(self, node_name="moveit_py", config_dict=None):
        self.config_dict = config_dict
        self.monitor = PlanningSceneMonitor()
        self.components: dict[str, PlanningComponent] = {}
        MoveItPy.instances.append(self)

    def get_planning_component(self, name):
        return self.components.setdefault(name, PlanningComponent(name, self))

    def get_planning_scene_monitor(self):
        return self.monitor

    def get_robot_model(self):
        return "robot_model"


class PlanningComponent:
    robot = None  # the core RobotModel the double plans with (set by install)
    fail_first: int = 0  # plans to refuse before planning for real (MoveIt failing, e.g. an IK timeout)

    def __init__(self, name, moveit):
        self.name, self.log, self.scenes = name, [], []  # per plan: (planner, world ids, attached ids), scene

    def set_start_state(self, configuration_name=None, robot_state=None):
        self.start = robot_state

    def set_goal_state(self, configuration_name=None, robot_state=None, pose_stamped_msg=None, pose_link=None,
                       motion_plan_constraints=None):
        assert pose_link in (None, "leap_palm") and (robot_state is None) != (pose_stamped_msg is None)
        self.goal_state, self.goal_pose = robot_state, pose_stamped_msg

    def plan(self, single_plan_parameters=None, multi_plan_parameters=None, planning_scene=None,
             solution_selection_function=None, stopping_criterion_callback=None):
        robot = PlanningComponent.robot
        params = single_plan_parameters
        self.log.append((params.planner_id, sorted(planning_scene.objects), sorted(planning_scene.attached)))
        self.scenes.append(planning_scene)
        if PlanningComponent.fail_first > 0:
            PlanningComponent.fail_first -= 1
            return _Result(None)
        q = np.array([self.start.joint_positions[n] for n in robot.joint_names])
        arm, hand = q[:robot.n_arm], q[robot.n_arm:]
        attached = planning_scene.attached.get("object")
        checker = CollisionChecker(robot, _scene_of(planning_scene), attached_points_in_hand_m=attached)
        is_valid_arm = lambda arm_q: checker.is_valid(robot.full_q(arm_q, hand))  # noqa: E731
        timing, names = TimingConfig(), robot.arm_joint_names
        if params.planner_id == "LIN":
            p = self.goal_pose.pose.position
            start = robot.frame_pose(q, robot.hand_root_frame)
            line = straight_line(robot, arm, hand, np.array([p.x, p.y, p.z]) - start[:3, 3], checker.is_valid)
            timed = time_parameterise_spline(names, line, ARM_VELOCITY_LIMITS_RAD_S, ARM_ACCELERATION_LIMITS_RAD_S2,
                                             timing)
        else:
            if self.goal_pose is not None:
                goal = solve_ik(robot, _matrix(self.goal_pose.pose), arm, hand, is_valid=checker.is_valid)
                if not goal:
                    return _Result(None)
                goal = goal[0]
            else:
                goal = np.array([self.goal_state.joint_positions[n] for n in names])
            lower = np.where(robot.continuous, arm - np.pi, robot.lower_rad[:robot.n_arm])
            upper = np.where(robot.continuous, arm + np.pi, robot.upper_rad[:robot.n_arm])
            path = plan_joint_path(is_valid_arm, arm, goal, lower, upper)
            timed = time_parameterise_polyline(names, path, ARM_VELOCITY_LIMITS_RAD_S, ARM_ACCELERATION_LIMITS_RAD_S2,
                                               timing)
        return _Result(_moveit_style_msg(timed, robot.continuous))


class _Result:
    def __init__(self, msg):
        self.msg = msg
        self.error_code = SimpleNamespace(val=1 if msg is not None else 99999)
        self.trajectory = SimpleNamespace(get_robot_trajectory_msg=lambda: SimpleNamespace(joint_trajectory=msg))

    def __bool__(self):
        return self.msg is not None


def _matrix(pose) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    out = np.eye(4)
    o = pose.orientation
    out[:3, :3] = Rotation.from_quat([o.x, o.y, o.z, o.w]).as_matrix()
    out[:3, 3] = pose.position.x, pose.position.y, pose.position.z
    return out


def _scene_of(planning_scene) -> Scene:
    """The double's scene for the core checker: the table box, and the object as its box centres."""
    table = planning_scene.objects.get("table")
    config = SceneConfig() if table is not None else SceneConfig(table=None)
    obj = planning_scene.objects.get("object")
    points = np.zeros((0, 3)) if obj is None else np.array(
        [[p.position.x, p.position.y, p.position.z] for p in obj.primitive_poses])
    return Scene(config, points)


def _moveit_style_msg(trajectory, continuous: np.ndarray):
    """JointTrajectory -> trajectory_msgs look-alike, joints reversed, continuous joints wrapped to [-pi, pi]."""
    positions = trajectory.positions.copy()
    positions[:, continuous] = np.angle(np.exp(1j * positions[:, continuous]))
    order = list(range(len(trajectory.joint_names)))[::-1]
    points = []
    for q, v, a, t in zip(positions, trajectory.velocities, trajectory.accelerations, trajectory.times_s):
        sec = int(np.floor(t))
        points.append(SimpleNamespace(positions=q[order].tolist(), velocities=v[order].tolist(),
                                      accelerations=a[order].tolist(),
                                      time_from_start=SimpleNamespace(sec=sec, nanosec=int(round((t - sec) * 1e9)))))
    return SimpleNamespace(joint_names=[trajectory.joint_names[i] for i in order], points=points)


def install(monkeypatch, robot) -> None:
    """Put the double's modules where MoveItPyPlanner imports moveit_py, MoveIt messages and config utils."""
    PlanningComponent.robot, PlanningComponent.fail_first = robot, 0
    MoveItPy.instances.clear()
    MoveItConfigsBuilder.files = []
    modules = {
        "moveit": types.ModuleType("moveit"),
        "moveit.planning": types.ModuleType("moveit.planning"),
        "moveit.core": types.ModuleType("moveit.core"),
        "moveit.core.robot_state": types.ModuleType("moveit.core.robot_state"),
        "moveit_msgs": types.ModuleType("moveit_msgs"),
        "moveit_msgs.msg": types.ModuleType("moveit_msgs.msg"),
        "shape_msgs": types.ModuleType("shape_msgs"),
        "shape_msgs.msg": types.ModuleType("shape_msgs.msg"),
        "moveit_configs_utils": types.ModuleType("moveit_configs_utils"),
    }
    modules["moveit.planning"].MoveItPy = MoveItPy
    modules["moveit.planning"].PlanRequestParameters = PlanRequestParameters
    modules["moveit.core.robot_state"].RobotState = RobotState
    modules["moveit_msgs.msg"].CollisionObject = CollisionObject
    modules["moveit_msgs.msg"].AttachedCollisionObject = AttachedCollisionObject
    modules["shape_msgs.msg"].SolidPrimitive = SolidPrimitive
    modules["moveit_configs_utils"].MoveItConfigsBuilder = MoveItConfigsBuilder
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
