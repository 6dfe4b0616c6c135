"""The same world for IsaacLab users (GPU, Python 3.12): robot, table, object and depth camera as an IsaacLab
scene configuration, plus the Isaac Sim ROS 2 bridge graph that puts it on the topics `sim_node` speaks.

NOT RUN in FLASH's CI or on its development machines (no GPU, Python 3.11, no IsaacLab): it is written against
IsaacLab 2.x (`isaaclab.*` packages) and Isaac Sim 4.5+ (`isaacsim.ros2.bridge` OmniGraph nodes) from their
documentation. Treat it as a starting point and report what breaks.

    from flash_sim.isaaclab_scene import make_scene_cfg, build_ros2_bridge
    scene_cfg = make_scene_cfg("tabletop", seed=0, urdf_path="urdf/gen3_leap.urdf")  # flash robot-description
    # ... InteractiveScene(scene_cfg), sim.reset(), then once the stage exists:
    build_ros2_bridge(robot_prim="/World/envs/env_0/Robot", camera_prim="/World/envs/env_0/DepthCamera")

What matches the MuJoCo world: the URDF is the same assembly (`flash robot-description` exports it), the scene
YAML gives the table, the object (its mesh written to an OBJ, collided as a convex decomposition by Isaac's mesh
converter) and the camera poses and intrinsics; the servo gains are the MuJoCo world's (`servo_gains()`: arm
kp 2000/500, kd 100/50; hand kp 2, kd 0.1). What differs: PhysX, not MuJoCo, so contact behaviour is not the
evaluation's, and Isaac's joint-state publisher names the hand joints after the URDF ("leap_if_mcp", ...)
rather than the LEAP driver's "0".."15": set the hand nodes' `hand_joint_names` to those (flash_core's
`hand_joint_order` reads either naming).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flash_sim.scene import SceneConfig, load_scene, object_mesh, with_object


@dataclass(frozen=True)
class BridgeNode:
    """One OmniGraph node of the ROS 2 bridge: its name, node type and the attributes it sets."""

    name: str
    node_type: str
    values: tuple[tuple[str, object], ...] = ()


# The Isaac Sim ROS 2 bridge graph of the topic contract (Isaac Sim 4.5+ node types). Inputs "robot" and
# "camera" are filled in by build_ros2_bridge.
BRIDGE_NODES: tuple[BridgeNode, ...] = (
    BridgeNode("tick", "omni.graph.action.OnPlaybackTick"),
    BridgeNode("sim_time", "isaacsim.core.nodes.IsaacReadSimulationTime"),
    BridgeNode("clock", "isaacsim.ros2.bridge.ROS2PublishClock", (("inputs:topicName", "clock"),)),
    BridgeNode("joint_states", "isaacsim.ros2.bridge.ROS2PublishJointState",
               (("inputs:topicName", "isaac_joint_states"),)),
    BridgeNode("joint_commands", "isaacsim.ros2.bridge.ROS2SubscribeJointState",
               (("inputs:topicName", "isaac_joint_commands"),)),
    BridgeNode("articulation", "isaacsim.core.nodes.IsaacArticulationController"),
    BridgeNode("tf", "isaacsim.ros2.bridge.ROS2PublishTransformTree", (("inputs:topicName", "tf"),)),
    BridgeNode("render_product", "isaacsim.core.nodes.IsaacCreateRenderProduct"),
    BridgeNode("points", "isaacsim.ros2.bridge.ROS2CameraHelper",
               (("inputs:type", "depth_pcl"), ("inputs:topicName", "camera/depth/points"),
                ("inputs:frameId", "camera_depth_optical_frame"))),
    BridgeNode("camera_info", "isaacsim.ros2.bridge.ROS2CameraInfoHelper",
               (("inputs:topicName", "camera/depth/camera_info"), ("inputs:frameId", "camera_depth_optical_frame"))),
)
BRIDGE_CONNECTIONS: tuple[tuple[str, str], ...] = (
    ("tick.outputs:tick", "clock.inputs:execIn"),
    ("tick.outputs:tick", "joint_states.inputs:execIn"),
    ("tick.outputs:tick", "joint_commands.inputs:execIn"),
    ("tick.outputs:tick", "tf.inputs:execIn"),
    ("tick.outputs:tick", "render_product.inputs:execIn"),
    ("sim_time.outputs:simulationTime", "clock.inputs:timeStamp"),
    ("sim_time.outputs:simulationTime", "joint_states.inputs:timeStamp"),
    ("sim_time.outputs:simulationTime", "tf.inputs:timeStamp"),
    ("joint_commands.outputs:execOut", "articulation.inputs:execIn"),
    ("joint_commands.outputs:jointNames", "articulation.inputs:jointNames"),
    ("joint_commands.outputs:positionCommand", "articulation.inputs:positionCommand"),
    ("render_product.outputs:execOut", "points.inputs:execIn"),
    ("render_product.outputs:execOut", "camera_info.inputs:execIn"),
    ("render_product.outputs:renderProductPath", "points.inputs:renderProductPath"),
    ("render_product.outputs:renderProductPath", "camera_info.inputs:renderProductPath"),
)


def servo_gains() -> dict[str, tuple[float, float]]:
    """{joint name: (stiffness N m/rad, damping N m s/rad)} of the MuJoCo world's servos: the Gen3 file's
    position actuators for the arm, the grasp evaluation's finger servos for the hand."""
    from flash_training.eval.scene import SimConfig

    from flash_core.planning.description import HAND_JOINT_NAMES, HAND_PREFIX, gen3_spec

    gains = {a.target: (float(a.gainprm[0]), float(-a.biasprm[2])) for a in gen3_spec().actuators}
    hand = SimConfig()
    gains.update({HAND_PREFIX + name: (hand.joint_kp, hand.joint_damping) for name in HAND_JOINT_NAMES})
    return gains


def require_isaaclab():
    """The `isaaclab` module, or ImportError saying how to get it."""
    try:
        import isaaclab
    except ImportError as exc:
        raise ImportError(
            "IsaacLab is not installed: the IsaacLab backend needs an NVIDIA GPU, Python 3.12, Isaac Sim and "
            "IsaacLab (https://isaac-sim.github.io/IsaacLab). Use the MuJoCo simulator (`sim`, backend mujoco) "
            "on machines without them."
        ) from exc
    return isaaclab


def _wxyz(rotation: np.ndarray) -> tuple[float, float, float, float]:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return (float(w), float(x), float(y), float(z))


def _object_usd(scene: SceneConfig, seed: int, out_dir: Path) -> str:
    """Write the first object's mesh as OBJ and convert it to USD with a convex-decomposition collider (0.1 kg,
    the MuJoCo world's mass)."""
    from isaaclab.sim.converters import MeshConverter, MeshConverterCfg
    from isaaclab.sim.schemas import CollisionPropertiesCfg, MassPropertiesCfg, RigidBodyPropertiesCfg

    obj = scene.objects[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    mesh_path = out_dir / f"{obj.name}_{seed}.obj"
    object_mesh(obj, seed).export(mesh_path)
    converter = MeshConverter(MeshConverterCfg(
        asset_path=str(mesh_path), usd_dir=str(out_dir), force_usd_conversion=True,
        collision_approximation="convexDecomposition", mass_props=MassPropertiesCfg(mass=0.1),
        rigid_props=RigidBodyPropertiesCfg(), collision_props=CollisionPropertiesCfg(collision_enabled=True),
    ))
    return converter.usd_path


def make_scene_cfg(scene: str = "tabletop", seed: int = 0, urdf_path: str | Path = "urdf/gen3_leap.urdf",
                   object: str | None = None, asset_dir: str | Path = "isaaclab_assets"):
    """An `InteractiveSceneCfg` of the scene: robot (URDF of `flash robot-description`), table, object, camera."""
    require_isaaclab()
    import isaaclab.sim as sim_utils
    from isaaclab.actuators import ImplicitActuatorCfg
    from isaaclab.assets import ArticulationCfg, AssetBaseCfg, RigidObjectCfg
    from isaaclab.scene import InteractiveSceneCfg
    from isaaclab.sensors import CameraCfg
    from isaaclab.utils import configclass

    from flash_core.planning.robot_model import HOME_ARM_Q_RAD

    config = load_scene(scene)
    if object:
        config = with_object(config, object)
    urdf = Path(urdf_path)
    if not urdf.is_file():
        raise FileNotFoundError(f"no robot URDF at {urdf}: write it with `flash robot-description --out {urdf.parent}`")
    table, height = config.table, config.table.height_m
    gains = servo_gains()
    robot_cfg = ArticulationCfg(
        prim_path="{ENV_REGEX_NS}/Robot",
        spawn=sim_utils.UrdfFileCfg(asset_path=str(urdf), fix_base=True, merge_fixed_joints=False,
                                    joint_drive=None),
        init_state=ArticulationCfg.InitialStateCfg(
            pos=(0.0, 0.0, height),
            joint_pos={**{f"joint_{i + 1}": float(q) for i, q in enumerate(HOME_ARM_Q_RAD)}, "leap_.*": 0.0},
        ),
        actuators={"servos": ImplicitActuatorCfg(joint_names_expr=list(gains),
                                                 stiffness={n: kp for n, (kp, _) in gains.items()},
                                                 damping={n: kd for n, (_, kd) in gains.items()})},
    )
    table_cfg = AssetBaseCfg(
        prim_path="{ENV_REGEX_NS}/Table",
        spawn=sim_utils.CuboidCfg(size=(*table.size_m, table.thickness_m),
                                  collision_props=sim_utils.CollisionPropertiesCfg()),
        init_state=AssetBaseCfg.InitialStateCfg(pos=(*table.centre_m, height - table.thickness_m / 2)),
    )
    obj = config.objects[0]
    rotation = obj.rotation()
    lowest = float((np.asarray(object_mesh(obj, seed).vertices) @ rotation.T)[:, 2].min())
    object_cfg = RigidObjectCfg(
        prim_path="{ENV_REGEX_NS}/Object",
        spawn=sim_utils.UsdFileCfg(usd_path=_object_usd(config, seed, Path(asset_dir))),
        init_state=RigidObjectCfg.InitialStateCfg(pos=(*obj.xy_m, height - lowest + 1e-3), rot=_wxyz(rotation)),
    )
    camera = config.depth_camera
    pose = camera.pose()
    intrinsics = camera.intrinsics()
    camera_cfg = CameraCfg(
        prim_path="{ENV_REGEX_NS}/DepthCamera",
        width=camera.width, height=camera.height, data_types=["distance_to_image_plane"],
        spawn=sim_utils.PinholeCameraCfg.from_intrinsic_matrix(
            intrinsic_matrix=intrinsics.matrix().ravel().tolist(), width=camera.width, height=camera.height),
        # "ros" convention: z forward, y down, the optical frame the MuJoCo world publishes.
        offset=CameraCfg.OffsetCfg(pos=tuple(pose[:3, 3] + [0.0, 0.0, height]), rot=_wxyz(pose[:3, :3]),
                                   convention="ros"),
    )

    @configclass
    class FlashSceneCfg(InteractiveSceneCfg):
        ground = AssetBaseCfg(prim_path="/World/ground", spawn=sim_utils.GroundPlaneCfg())
        light = AssetBaseCfg(prim_path="/World/light", spawn=sim_utils.DomeLightCfg(intensity=2000.0))
        robot = robot_cfg
        table = table_cfg
        object = object_cfg
        depth_camera = camera_cfg

    return FlashSceneCfg(num_envs=1, env_spacing=2.0)


def build_ros2_bridge(robot_prim: str, camera_prim: str, graph_path: str = "/World/FlashRos2Bridge") -> None:
    """Create the OmniGraph of BRIDGE_NODES / BRIDGE_CONNECTIONS on the open stage (Isaac Sim 4.5+ with the
    isaacsim.ros2.bridge extension enabled)."""
    require_isaaclab()
    import omni.graph.core as og

    values = [(f"{node.name}.{key}", value) for node in BRIDGE_NODES for key, value in node.values]
    values += [("joint_states.inputs:targetPrim", robot_prim), ("articulation.inputs:targetPrim", robot_prim),
               ("tf.inputs:targetPrims", [robot_prim]), ("render_product.inputs:cameraPrim", camera_prim)]
    og.Controller.edit(
        {"graph_path": graph_path, "evaluator_name": "execution"},
        {
            og.Controller.Keys.CREATE_NODES: [(node.name, node.node_type) for node in BRIDGE_NODES],
            og.Controller.Keys.CONNECT: list(BRIDGE_CONNECTIONS),
            og.Controller.Keys.SET_VALUES: values,
        },
    )
