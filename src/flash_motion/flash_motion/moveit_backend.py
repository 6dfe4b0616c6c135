"""The pick sequence on MoveIt 2 through moveit_py (ROS 2 Jazzy + MoveIt 2; not installable from PyPI).

It lives in flash_motion, not in the ROS-free flash_core.planning, because it plans through ROS (moveit_py
and MoveIt messages); `flash_core.planning.make_planner("moveit")` imports it from here when asked.
Same stages, candidate loop, segment layout and independent validation as `OmplPlanner` (pick_stages.py); MoveIt
plans the arm motions:
  to_pregrasp  OMPL (RRTConnect) to a pose goal of `leap_palm`; MoveIt samples the IK (KDL);
  approach     Pilz LIN from the pre-grasp to the grasp pose;
  lift         Pilz LIN straight up by lift_m;
  retreat      OMPL to a joint goal (the start configuration by default).
Hand moves (open, close) are the core's minimum-jerk trajectories; the closing sweep is checked by the core.

The table and the object cloud enter MoveIt's planning scene as boxes: the table as one box, the cloud as the
occupied leaves of the same octree the core collides (`scene_boxes`). Hand-object contact is allowed during
the approach, closing and lift (as in pick.py); moveit_py binds the scene's allowed-collision matrix to its
const getter (edits land on a copy), so the approach is planned in a copy of the scene without the object.
After the close the object is attached to the hand as in MoveIt's pick-and-place tutorial: in a copy of the
scene set to the grasp configuration, an AttachedCollisionObject moves it from the world onto `leap_palm`,
the hand's links as its touch links (`attach_object_msg`), so MoveIt carries it: the lift in that copy without
the table (the object rests on it as the lift begins), the retreat with the table. The pick ends holding the
object, so nothing is detached; the copies are dropped and the monitored scene keeps it in the world. The core
validator then re-checks every segment against the full scene with only the hand-object pairs allowed and the
carried object attached in the lift and retreat (`carried_object_checkers`, as OmplPlanner). MoveIt results
become the same `JointTrajectory` / `PickResult` types, so the pick node executes either backend alike.

The MoveIt parameters come from the `gen3_leap_moveit_config` package (config/moveit_py.yaml and the rest);
the URDF and SRDF are generated for the configured hand mount (`srdf.cached_moveit_description`) unless
paths are given.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from flash_core.planning.collision import CollisionChecker
from flash_core.planning.ik import unwrap_near
from flash_core.planning.pick import (
    CandidateRejected,
    GraspCandidate,
    PickConfig,
    PickPlan,
    PickResult,
    approach_direction,
)
from flash_core.planning.pick_stages import (
    approach_hand_shape,
    candidate_pregrasp_pose,
    carried_object_checkers,
    check_hand_closing,
    hand_motion,
    pick_segments,
    plan_first_feasible,
    squeeze_hand_q,
    validate_segments,
)
from flash_core.planning.robot_model import RobotModel
from flash_core.planning.scene import Scene
from flash_core.planning.srdf import BASE_LINK, MANIPULATOR_GROUP, ROBOT_NAME, TIP_LINK
from flash_core.planning.timing import stationary
from flash_core.planning.trajectory import JointTrajectory

CONFIG_PACKAGE = "gen3_leap_moveit_config"
TABLE_ID, OBJECT_ID = "table", "object"


@dataclass(frozen=True)
class MoveItConfig:
    node_name: str = "flash_moveit_py"
    urdf_path: str = ""  # "" = generated for PickConfig.robot.assembly (cached)
    srdf_path: str = ""  # "" = computed for that URDF (cached; ~15 s the first time per hand mount)
    # Namespaces of plan request parameters in the package's config/moveit_py.yaml.
    free_motion_params: str = "ompl_rrtc"
    straight_line_params: str = "pilz_lin"
    pregrasp_attempts: int = 3  # MoveIt samples the pre-grasp IK: a new branch may give a clear approach


@dataclass(frozen=True)
class SceneBoxes:
    """Axis-aligned boxes of one collision object in the robot base frame: sizes (K, 3), centers (K, 3), m."""

    sizes_m: np.ndarray
    centers_m: np.ndarray


def scene_boxes(scene: Scene) -> dict[str, SceneBoxes]:
    """The scene as boxes: "table" (one box), "object" and "obstacles" (the occupied leaves of the core's octrees)."""
    boxes = {}
    table = scene.table_geometry()
    if table is not None:
        shape, pose = table
        boxes[TABLE_ID] = SceneBoxes(2.0 * np.asarray(shape.halfSide, dtype=float)[None], pose[:3, 3][None])
    octree = scene.object_geometry()
    if octree is not None:
        leaves = np.asarray(octree.toBoxes(), dtype=float)  # (K, 6): x, y, z, edge, occupancy, threshold
        boxes[OBJECT_ID] = SceneBoxes(np.repeat(leaves[:, 3:4], 3, axis=1), leaves[:, :3])
    octree = scene.obstacle_geometry()
    if octree is not None:
        leaves = np.asarray(octree.toBoxes(), dtype=float)
        boxes["obstacles"] = SceneBoxes(np.repeat(leaves[:, 3:4], 3, axis=1), leaves[:, :3])
    return boxes


def joint_trajectory_from_msg(msg, joint_names: Sequence[str], continuous: np.ndarray | None = None,
                              start: np.ndarray | None = None) -> JointTrajectory:
    """trajectory_msgs/JointTrajectory (any joint order) -> JointTrajectory over joint_names.

    continuous (D,) marks joints MoveIt wraps to [-pi, pi]: they are unwrapped along the trajectory and
    shifted by 2*pi*k to start within pi of `start` (D,). Missing velocities or accelerations are taken
    from finite differences; points repeating the previous time and position are dropped.
    """
    joint_names = tuple(joint_names)
    names = list(msg.joint_names)
    missing = [n for n in joint_names if n not in names]
    if missing:
        raise ValueError(f"trajectory lacks joints {missing}; it has {names}")
    if not msg.points:
        raise ValueError("trajectory has no points")
    columns = [names.index(n) for n in joint_names]
    times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points])
    positions = np.array([[p.positions[c] for c in columns] for p in msg.points], dtype=float)
    keep = np.ones(len(times), dtype=bool)
    keep[1:] = (np.diff(times) > 0) | (np.abs(np.diff(positions, axis=0)).max(axis=1) > 1e-9)
    times, positions = times[keep], positions[keep]
    points = [p for p, k in zip(msg.points, keep) if k]
    if times[0] != 0.0 or np.any(np.diff(times) <= 0):
        raise ValueError(f"trajectory times must start at 0 and increase, got {times[:5]}...")
    if continuous is not None:
        continuous = np.asarray(continuous, dtype=bool)
        positions[:, continuous] = np.unwrap(positions[:, continuous], axis=0)
        if start is not None:
            shifted = unwrap_near(positions[0], np.asarray(start, dtype=float), continuous)
            positions += shifted - positions[0]

    def derivative(field_name: str, of: np.ndarray) -> np.ndarray:
        values = [getattr(p, field_name) for p in points]
        if all(len(v) == len(names) for v in values):
            return np.array([[v[c] for c in columns] for v in values], dtype=float)
        return np.gradient(of, times, axis=0) if len(times) > 1 else np.zeros_like(of)

    velocities = derivative("velocities", positions)
    accelerations = derivative("accelerations", velocities)
    return JointTrajectory(joint_names, positions, velocities, accelerations, times)


def moveit_parameters(urdf_path: str, srdf_path: str) -> dict:
    """All MoveIt / MoveItPy parameters of the Gen3 + LEAP config package for this URDF and SRDF.

    Used by MoveItPyPlanner and by the package's move_group launch, so both load the same files.
    """
    from moveit_configs_utils import MoveItConfigsBuilder

    return (
        MoveItConfigsBuilder(ROBOT_NAME, package_name=CONFIG_PACKAGE)
        .robot_description(file_path=str(urdf_path))  # absolute paths are used as they are
        .robot_description_semantic(file_path=str(srdf_path))
        .robot_description_kinematics(file_path="config/kinematics.yaml")
        .joint_limits(file_path="config/joint_limits.yaml")
        .cartesian_limits(file_path="config/pilz_cartesian_limits.yaml")
        .trajectory_execution(file_path="config/moveit_controllers.yaml")
        .planning_pipelines(default_planning_pipeline="ompl", pipelines=["ompl", "pilz_industrial_motion_planner"])
        .moveit_cpp(file_path="config/moveit_py.yaml")
        .to_moveit_configs()
        .to_dict()
    )


def _require_moveit_py() -> None:
    from flash_core.utils.require import require_package

    require_package(
        "moveit.planning",
        feature="MoveItPyPlanner (moveit_py is not available on this machine: it needs ROS 2 Jazzy + MoveIt 2 "
                "(moveit_py); OmplPlanner plans the same pick from PyPI packages)",
        install_hint="sudo apt install ros-jazzy-moveit-py ros-jazzy-moveit-configs-utils "
                     "ros-jazzy-pilz-industrial-motion-planner, then source /opt/ros/jazzy/setup.bash and build "
                     "this workspace's gen3_leap_moveit_config with colcon",
    )


class MoveItPyPlanner:
    """`MotionPlanner` on MoveIt 2 (moveit_py): OMPL free motions, Pilz LIN straight lines."""

    def __init__(self, config: PickConfig | None = None, moveit: MoveItConfig | None = None,
                 robot: RobotModel | None = None):
        _require_moveit_py()  # before any work: say what is missing
        from moveit.planning import MoveItPy, PlanRequestParameters

        self.config = config or PickConfig()
        self.moveit_config = moveit or MoveItConfig()
        self.robot = robot or RobotModel(self.config.robot)  # the independent validator's model
        approach_direction(self.config.approach_axis_in_hand)  # fails here on a bad config, not per candidate
        urdf, srdf = self.moveit_config.urdf_path, self.moveit_config.srdf_path
        if not (urdf and srdf):
            from flash_core.planning.srdf import cached_moveit_description

            files = cached_moveit_description(self.config.robot.assembly)
            urdf, srdf = urdf or str(files["urdf"]), srdf or str(files["srdf"])
        self.moveit = MoveItPy(node_name=self.moveit_config.node_name, config_dict=moveit_parameters(urdf, srdf))
        self.arm = self.moveit.get_planning_component(MANIPULATOR_GROUP)
        self.scene_monitor = self.moveit.get_planning_scene_monitor()
        self._free_params = PlanRequestParameters(self.moveit, self.moveit_config.free_motion_params)
        self._line_params = PlanRequestParameters(self.moveit, self.moveit_config.straight_line_params)

    # --- public -----------------------------------------------------------------------------------------
    def plan_pick(self, candidates: Sequence[GraspCandidate], object_points_m: np.ndarray,
                  start_arm_q: np.ndarray, start_hand_q: np.ndarray | None = None,
                  obstacle_points_m: np.ndarray | None = None,
                  table_plane_pose: np.ndarray | None = None) -> PickResult:
        scene = Scene.for_pick(self.config.scene, object_points_m, obstacle_points_m, table_plane_pose)
        checker = CollisionChecker(self.robot, scene, self.config.collision)
        with_object, without_object = self._planning_scenes(scene)
        return plan_first_feasible(
            self.robot, candidates, start_arm_q, start_hand_q,
            lambda candidate, arm_q, hand_q: self._plan_candidate(
                candidate, scene, checker, with_object, without_object, arm_q, hand_q),
        )

    # --- MoveIt -----------------------------------------------------------------------------------------
    def _planning_scenes(self, scene: Scene):
        """(scene with table and object, a copy without the object); the monitor's scene gets both objects
        so RViz shows what is planned against."""
        with self.scene_monitor.read_write() as monitored:
            monitored.remove_all_collision_objects()
            for name, boxes in scene_boxes(scene).items():
                monitored.apply_collision_object(_collision_object(name, boxes))
            monitored.current_state.update()
        with self.scene_monitor.read_only() as monitored:
            with_object = copy.copy(monitored)  # PlanningScene.__copy__ clones
        without_object = copy.copy(with_object)
        without_object.apply_collision_object(_remove_object_msg(OBJECT_ID))
        return with_object, without_object

    def _carrying_scenes(self, with_object, grasp_arm_q: np.ndarray, hand_q: np.ndarray, has_table: bool):
        """(lift scene, retreat scene): copies of `with_object` with the object attached to the hand where the
        grasp (grasp_arm_q, hand_q) holds it; the lift's without the table the object still rests on."""
        carrying = copy.copy(with_object)
        carrying.current_state = self._state(grasp_arm_q, hand_q)  # the attachment keeps the object's pose here
        carrying.process_attached_collision_object(attach_object_msg(self.robot.hand_link_names))
        lifting = copy.copy(carrying)
        if has_table:
            lifting.apply_collision_object(_remove_object_msg(TABLE_ID))
        return lifting, carrying

    def _state(self, arm_q: np.ndarray, hand_q: np.ndarray):
        from moveit.core.robot_state import RobotState

        state = RobotState(self.moveit.get_robot_model())
        # By name, so the result does not depend on the order MoveIt gives the groups' joints.
        q = self.robot.full_q(arm_q, hand_q)
        state.joint_positions = {name: float(value) for name, value in zip(self.robot.joint_names, q)}
        state.update()
        return state

    def _plan_arm(self, stage: str, start_arm_q: np.ndarray, hand_q: np.ndarray, planning_scene, *,
                  pose: np.ndarray | None = None, goal_arm_q: np.ndarray | None = None) -> JointTrajectory:
        """One MoveIt arm plan from (start_arm_q, hand_q) to a `leap_palm` pose or an arm configuration."""
        self.arm.set_start_state(robot_state=self._state(start_arm_q, hand_q))
        if pose is not None:
            self.arm.set_goal_state(pose_stamped_msg=_pose_stamped(pose), pose_link=TIP_LINK)
            params = self._line_params if stage in ("approach", "lift") else self._free_params
        else:
            self.arm.set_goal_state(robot_state=self._state(goal_arm_q, hand_q))
            params = self._free_params
        result = self.arm.plan(single_plan_parameters=params, planning_scene=planning_scene)
        if not result:
            raise CandidateRejected(f"{stage}: MoveIt {params.planning_pipeline}/{params.planner_id} found no plan "
                                    f"(MoveItErrorCodes {result.error_code.val})")
        msg = result.trajectory.get_robot_trajectory_msg().joint_trajectory
        return joint_trajectory_from_msg(msg, self.robot.arm_joint_names, self.robot.continuous, start_arm_q)

    def _plan_candidate(self, candidate: GraspCandidate, scene: Scene, checker: CollisionChecker, with_object,
                        without_object, start_arm_q: np.ndarray, start_hand_q: np.ndarray) -> PickPlan:
        robot, cfg = self.robot, self.config
        approach_hand_q = approach_hand_shape(candidate)
        start_q = robot.full_q(start_arm_q, approach_hand_q)
        if not checker.is_valid(start_q):
            raise CandidateRejected(f"start configuration in collision: {checker.colliding_pairs(start_q)}")
        grasp = candidate.wrist_pose
        pregrasp = candidate_pregrasp_pose(candidate, cfg)
        lifted = grasp.copy()
        lifted[2, 3] += cfg.lift_m

        last_error: Exception | None = None
        for _ in range(self.moveit_config.pregrasp_attempts):
            try:
                to_pregrasp = self._plan_arm("to_pregrasp", start_arm_q, approach_hand_q, with_object,
                                             pose=pregrasp)
                approach = self._plan_arm("approach", to_pregrasp.positions[-1], approach_hand_q, without_object,
                                          pose=grasp)
                grasp_q = approach.positions[-1]
                check_hand_closing(checker, grasp_q, approach_hand_q, candidate.hand_q, cfg.hand_close_checks)
                lifting, carrying = self._carrying_scenes(with_object, grasp_q, candidate.hand_q,
                                                          scene.config.table is not None)
                lift = self._plan_arm("lift", grasp_q, candidate.hand_q, lifting, pose=lifted)
                break
            except CandidateRejected as exc:
                last_error = exc
        else:
            raise CandidateRejected(f"no pre-grasp in {self.moveit_config.pregrasp_attempts} MoveIt attempts gave a "
                                    f"clear approach and lift ({last_error})")
        retreat_q = start_arm_q if cfg.retreat_arm_q is None else np.asarray(cfg.retreat_arm_q, dtype=float)
        retreat = (self._plan_arm("retreat", lift.positions[-1], candidate.hand_q, carrying,
                                  goal_arm_q=unwrap_near(retreat_q, lift.positions[-1], robot.continuous))
                   if cfg.retreat_to_start else stationary(robot.arm_joint_names, lift.positions[-1]))

        duration, timing = cfg.hand_move_duration_s, cfg.timing
        trajectories = {
            "open_hand": hand_motion(robot, start_hand_q, approach_hand_q, duration, timing),
            "to_pregrasp": to_pregrasp,
            "approach": approach,
            "close_hand": hand_motion(robot, approach_hand_q,
                                      squeeze_hand_q(robot, approach_hand_q, candidate.hand_q, cfg.squeeze_fraction),
                                      duration, timing),
            "lift": lift,
            "retreat": retreat,
        }
        segments = pick_segments(robot, trajectories, approach_hand_q, candidate.hand_q)
        lift_checker, carry_checker = carried_object_checkers(robot, scene, candidate, cfg)
        validate_segments(segments, checker, carry_checker, cfg.validation, lift_checker)
        return PickPlan(-1, grasp_q, segments, 0.0)


def attach_object_msg(touch_links: Sequence[str]):
    """moveit_msgs/AttachedCollisionObject (ADD) attaching the scene's object, by id, to `leap_palm`: MoveIt moves
    it from the world onto the link at its pose in the scene's current state; touch_links (the hand's links) may
    touch it (the link itself always may)."""
    from moveit_msgs.msg import AttachedCollisionObject, CollisionObject

    msg = AttachedCollisionObject(link_name=TIP_LINK, touch_links=list(touch_links))
    msg.object.id = OBJECT_ID
    msg.object.header.frame_id = BASE_LINK
    msg.object.operation = CollisionObject.ADD
    return msg


def _remove_object_msg(object_id: str):
    """moveit_msgs/CollisionObject (REMOVE) of a world object."""
    from moveit_msgs.msg import CollisionObject

    msg = CollisionObject(id=object_id, operation=CollisionObject.REMOVE)
    msg.header.frame_id = BASE_LINK
    return msg


def _pose_stamped(pose: np.ndarray):
    """(4, 4) in the robot base frame -> geometry_msgs/PoseStamped."""
    from geometry_msgs.msg import PoseStamped
    from scipy.spatial.transform import Rotation

    msg = PoseStamped()
    msg.header.frame_id = BASE_LINK
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pose[:3, 3])
    x, y, z, w = Rotation.from_matrix(pose[:3, :3]).as_quat()
    msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = x, y, z, w
    return msg


def _collision_object(name: str, boxes: SceneBoxes):
    """SceneBoxes -> moveit_msgs/CollisionObject (ADD) of box primitives in the robot base frame."""
    from geometry_msgs.msg import Pose
    from moveit_msgs.msg import CollisionObject
    from shape_msgs.msg import SolidPrimitive

    msg = CollisionObject(id=name, operation=CollisionObject.ADD)
    msg.header.frame_id = BASE_LINK
    for size, center in zip(boxes.sizes_m, boxes.centers_m):
        msg.primitives.append(SolidPrimitive(type=SolidPrimitive.BOX, dimensions=[float(v) for v in size]))
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in center)
        pose.orientation.w = 1.0
        msg.primitive_poses.append(pose)
    return msg

