"""The simulated world: the Gen3 + LEAP on a table with free objects, a fixed depth camera and an overview camera,
in MuJoCo on CPU. No ROS here: `sim_node` puts this on the Isaac Sim topic contract.

    world = SimWorld.from_scene("tabletop", seed=0)     # or a scene YAML path; object="bottle" swaps the object
    world.set_targets(["joint_1", "0"], [0.3, 0.5])     # position targets, contract names, rad
    world.step(25)                                      # 25 physics steps (0.1 s at the 4 ms step)
    state = world.joint_state()                         # names, positions, velocities, efforts
    cloud = world.depth_cloud()                         # points in camera_depth_optical_frame + intrinsics
    world.close()

Model. The robot is the project's own assembly (`flash_core.planning.description.assembly_spec`: Gen3 with the
LEAP on the documented `HandMount`), its base on the table top. Objects are free bodies collided as their
convex decomposition (`flash_training.eval.convex.convex_pieces`, cached on disk by mesh hash) and drawn as
their mesh. Physics follows the grasp evaluation's `flash_training.eval.scene.SimConfig` (DexGraspBench's
settings), so a grasp that holds there holds here: 4 ms step, implicit-fast integrator, elliptic cones,
impratio 10, 2 no-slip iterations, friction (0.6, 0.02, 0.0001) with condim 4 on every geom, the hand's stiff
contact solref/solimp, object mass 0.1 kg with the mesh's inertia and MuJoCo's default object contact softness.

Servos (position actuators on all 23 joints, the gain set this simulator documents):
- arm: the Gen3 file's (kp 2000 N m/rad, kv 100 N m s/rad, +-105 N m on joints 1-4; kp 500, kv 50, +-52 N m
  on joints 5-7); stable at the 4 ms step under the implicit-fast integrator (its damping is implicit).
- hand: the evaluation's finger servos (kp 2 N m/rad, joint damping 0.1 N m s/rad, ~0.05 s time constant)
  instead of the LEAP file's kp 8 / kv 5.6 (~0.7 s time constant, slower than the real Dynamixels), so fingers
  squeeze as hard as in the evaluation that ranked the grasps.
- gravity compensation on every robot body: Kinova's joint controllers and an arm-held hand carry their own
  weight (the evaluation's hand is gravity-compensated too); objects feel gravity.

Deviation from the evaluation: none in the physics settings; the hand's contact solref (5 ms) is below twice
the 4 ms step, so MuJoCo runs it at 8 ms, as the evaluation does.

Rendering is headless (MUJOCO_GL, default "egl"). Visual meshes are decimated to `visual_max_faces` each (cached
on disk) because depth rendering cost follows triangle count (the full meshes are ~330k triangles); collision
geometry is untouched.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is first imported: headless rendering

import numpy as np  # noqa: E402
from flash_training.eval.scene import SimConfig  # noqa: E402

from flash_core.planning.description import ARM_JOINT_NAMES, HAND_ROOT_BODY, assembly_spec  # noqa: E402
from flash_core.planning.robot_model import HOME_ARM_Q_RAD  # noqa: E402
from flash_core.sim import require_mujoco as _mujoco  # noqa: E402
from flash_core.sim.depth_camera import CameraIntrinsics, back_project  # noqa: E402
from flash_core.utils.cache import cache_dir  # noqa: E402
from flash_sim.scene import CameraConfig, SceneConfig, load_scene, object_mesh, with_object  # noqa: E402

DEPTH_CAMERA = "camera_depth"
OVERVIEW_CAMERA = "camera_overview"
OBJECT_BODY_PREFIX = "object_"


@dataclass(frozen=True)
class WorldConfig:
    """Settings of the world beyond the scene (physics from the grasp evaluation's SimConfig)."""

    physics: SimConfig = field(default_factory=SimConfig)
    ready_arm_q_rad: tuple[float, ...] = tuple(HOME_ARM_Q_RAD)  # ros2_kortex "home": hand above the table
    settle_s: float = 0.3  # objects come to rest on the table before time 0
    visual_max_faces: int = 2000  # per visual mesh; 0 keeps the full meshes
    depth_range_m: float = 3.0  # farther pixels read as no return (a D435-class range)

    def __post_init__(self) -> None:
        if len(self.ready_arm_q_rad) != len(ARM_JOINT_NAMES) or not np.isfinite(self.ready_arm_q_rad).all():
            raise ValueError(f"ready_arm_q_rad needs {len(ARM_JOINT_NAMES)} finite angles, got {self.ready_arm_q_rad}")
        if self.settle_s < 0 or self.visual_max_faces < 0 or not self.depth_range_m > 0:
            raise ValueError(f"settle_s and visual_max_faces must be >= 0, depth_range_m > 0; got {self}")


@dataclass
class JointState:
    """All 23 joints in contract order: joint_1..joint_7 then the LEAP joints "0".."15"."""

    names: tuple[str, ...]
    positions_rad: np.ndarray  # (23,)
    velocities_rad_s: np.ndarray  # (23,)
    efforts_nm: np.ndarray  # (23,) actuator torques


@dataclass
class DepthCloud:
    """What the depth camera sees: points (P, 3) float32 in camera_depth_optical_frame (OpenCV: z forward, x right,
    y down), one per pixel with a return, and the intrinsics of the image they came from."""

    points_m: np.ndarray
    intrinsics: CameraIntrinsics


def _contract_joint_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(contract names, MJCF joint names) of the 23 joints, same order."""
    from flash_core.hands.spec import load_spec
    from flash_core.planning.description import HAND_PREFIX

    hand = load_spec("leap")
    return (ARM_JOINT_NAMES + hand.joint_names,
            ARM_JOINT_NAMES + tuple(HAND_PREFIX + n for n in hand.model_joint_names))


JOINT_NAMES, MJCF_JOINT_NAMES = _contract_joint_names()


def _quat_of(rotation: np.ndarray) -> np.ndarray:
    quat = np.zeros(4)
    _mujoco().mju_mat2Quat(quat, np.ascontiguousarray(rotation, dtype=float).ravel())
    return quat


def _decimated_mesh_file(path: str, max_faces: int) -> str:
    """An STL of the mesh file with at most `max_faces` faces, cached by file content."""
    import trimesh

    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()[:20]
    out = cache_dir("sim_meshes") / f"{digest}_{max_faces}.stl"
    if not out.exists():
        mesh = trimesh.load(path, force="mesh")
        if len(mesh.faces) > max_faces:
            mesh = mesh.simplify_quadric_decimation(face_count=max_faces)
        tmp = out.with_name(f".{out.stem}.{os.getpid()}.stl")
        mesh.export(tmp)
        os.replace(tmp, out)
    return str(out)


def _decimate_visuals(spec, max_faces: int) -> None:
    """Point every visual (non-colliding) mesh geom at a decimated copy; collision meshes keep the full files."""
    mujoco = _mujoco()
    meshes = {m.name: m for m in spec.meshes}
    copies: dict[str, str] = {}
    for geom in spec.geoms:
        if geom.type != mujoco.mjtGeom.mjGEOM_MESH or geom.contype or geom.conaffinity:
            continue
        source = meshes.get(geom.meshname)
        if source is None or not source.file:
            continue
        if source.name not in copies:
            name = f"{source.name}_visual"
            spec.add_mesh(name=name, file=_decimated_mesh_file(source.file, max_faces), scale=list(source.scale))
            copies[source.name] = name
        geom.meshname = copies[source.name]


def _add_camera(spec, name: str, camera: CameraConfig, base_in_world: np.ndarray) -> None:
    pose = base_in_world @ camera.pose()  # world <- optical
    rotation = pose[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # MuJoCo cameras look along -z with y up
    spec.worldbody.add_camera(name=name, pos=pose[:3, 3], quat=_quat_of(rotation), fovy=camera.fovy_deg)


def build_model(scene: SceneConfig, seed: int, config: WorldConfig):
    """Compile the world's MjModel; returns (model, {object name: mesh in its own frame})."""
    mujoco = _mujoco()
    from flash_training.eval.convex import convex_pieces
    from flash_training.eval.scene import object_inertia

    physics = config.physics
    spec = assembly_spec()
    spec.modelname = "flash_sim"
    spec.option.timestep = physics.timestep_s
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = physics.impratio
    spec.option.noslip_iterations = physics.noslip_iterations
    table = scene.table
    base_in_world = np.eye(4)
    base_in_world[2, 3] = table.height_m
    base = spec.body("base_link")
    base.pos = base_in_world[:3, 3].tolist()
    for body in [base, *base.find_all(mujoco.mjtObj.mjOBJ_BODY)]:
        body.gravcomp = 1.0
    palm = spec.body("leap_" + HAND_ROOT_BODY)
    for geom in palm.find_all(mujoco.mjtObj.mjOBJ_GEOM):
        geom.solref[:2] = physics.hand_solref
        geom.solimp[:3] = physics.hand_solimp
    hand_joints = {j.name for j in palm.find_all(mujoco.mjtObj.mjOBJ_JOINT)}
    for joint in palm.find_all(mujoco.mjtObj.mjOBJ_JOINT):
        joint.damping[0] = physics.joint_damping
    for actuator in spec.actuators:
        if actuator.target in hand_joints:
            kp = physics.joint_kp
            actuator.gainprm[0], actuator.biasprm[1], actuator.biasprm[2] = kp, -kp, 0.0

    world = spec.worldbody
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3.0, 3.0, 0.05], rgba=[0.55, 0.55, 0.5, 1])
    half = [table.size_m[0] / 2, table.size_m[1] / 2, table.thickness_m / 2]
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=half,
                   pos=[table.centre_m[0], table.centre_m[1], table.height_m - half[2]], rgba=[0.62, 0.47, 0.33, 1])
    meshes = {}
    for index, obj in enumerate(scene.objects):
        mesh = object_mesh(obj, seed)
        pieces = convex_pieces(mesh)
        rotation = obj.rotation()
        lowest = float((np.asarray(mesh.vertices) @ rotation.T)[:, 2].min())
        body = world.add_body(name=OBJECT_BODY_PREFIX + obj.name,
                              pos=[obj.xy_m[0], obj.xy_m[1], table.height_m - lowest + 1e-3], quat=_quat_of(rotation))
        body.add_freejoint(name=OBJECT_BODY_PREFIX + obj.name)
        centre, inertia = object_inertia(mesh, pieces, physics.object_mass_kg)
        body.explicitinertial = True
        body.mass, body.ipos, body.fullinertia = physics.object_mass_kg, centre, inertia
        for i, vertices in enumerate(pieces.vertices):
            spec.add_mesh(name=f"{obj.name}_piece_{i}", uservert=vertices.ravel().tolist())
            body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"{obj.name}_piece_{i}", density=0.0, group=3,
                          solref=list(physics.object_solref), solimp=list(physics.object_solimp))
        spec.add_mesh(name=f"{obj.name}_visual", uservert=np.asarray(mesh.vertices).ravel().tolist(),
                      userface=np.asarray(mesh.faces).ravel().tolist())
        hue = [(0.85, 0.35, 0.2, 1), (0.2, 0.5, 0.85, 1), (0.3, 0.7, 0.3, 1)][index % 3]
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"{obj.name}_visual", contype=0, conaffinity=0,
                      density=0.0, group=2, rgba=list(hue))
        meshes[obj.name] = mesh
    for geom in spec.geoms:
        geom.friction = list(physics.friction)
        geom.condim = physics.condim
    if config.visual_max_faces:
        _decimate_visuals(spec, config.visual_max_faces)

    _add_camera(spec, DEPTH_CAMERA, scene.depth_camera, base_in_world)
    _add_camera(spec, OVERVIEW_CAMERA, scene.overview_camera, base_in_world)
    cameras = (scene.depth_camera, scene.overview_camera)
    spec.visual.global_.offwidth = max(c.width for c in cameras)
    spec.visual.global_.offheight = max(c.height for c in cameras)
    spec.visual.map.znear = 0.01  # fraction of the model extent: ~3 cm, closer than anything the cameras see
    # No multisampling: it doubles the CPU rasteriser's cost and blends depth across silhouettes.
    spec.visual.quality.offsamples = 0
    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
                     rgb1=[0.9, 0.92, 0.95], rgb2=[0.55, 0.6, 0.7], width=64, height=64)
    spec.visual.headlight.ambient = [0.4, 0.4, 0.4]
    directional = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
    world.add_light(pos=[0.5, -0.5, 3.0], dir=[0, 0.3, -1], type=directional, diffuse=[0.6, 0.6, 0.6])
    return spec.compile(), meshes


class SimWorld:
    """One MuJoCo world and its state. Deterministic: the same scene, seed and calls give the same trajectory."""

    def __init__(self, scene: SceneConfig, seed: int = 0, config: WorldConfig | None = None) -> None:
        mujoco = _mujoco()
        self.scene, self.seed, self.config = scene, int(seed), config or WorldConfig()
        self.model, self.object_meshes = build_model(scene, self.seed, self.config)
        self.data = mujoco.MjData(self.model)
        model = self.model
        joint_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in MJCF_JOINT_NAMES]
        self._qpos = np.array([model.jnt_qposadr[j] for j in joint_ids])
        self._dof = np.array([model.jnt_dofadr[j] for j in joint_ids])
        actuator_of = {int(model.actuator_trnid[a, 0]): a for a in range(model.nu)}
        self._actuator = np.array([actuator_of[j] for j in joint_ids])
        limited = model.actuator_ctrllimited[self._actuator].astype(bool)
        ranges = model.actuator_ctrlrange[self._actuator]
        self._lower = np.where(limited, ranges[:, 0], -np.inf)
        self._upper = np.where(limited, ranges[:, 1], np.inf)
        self._index = {name: i for i, name in enumerate(JOINT_NAMES)}
        base = model.body("base_link").id
        robot = [b for b in range(model.nbody) if self._descends(b, base)]
        self._robot_bodies = {model.body(b).name: b for b in robot}
        self._base_body = base
        self._object_bodies = {name: model.body(OBJECT_BODY_PREFIX + name).id for name in self.object_meshes}
        self._renderers: dict[str, object] = {}

        ready = np.zeros(len(JOINT_NAMES))
        ready[: len(ARM_JOINT_NAMES)] = self.config.ready_arm_q_rad
        self.data.qpos[self._qpos] = ready
        self.data.ctrl[self._actuator] = np.clip(ready, self._lower, self._upper)
        mujoco.mj_forward(model, self.data)
        self.step(int(round(self.config.settle_s / model.opt.timestep)))
        self.data.time = 0.0
        self._initial_state = self._get_state()

    @classmethod
    def from_scene(cls, name_or_path: str = "tabletop", seed: int = 0, object: str | None = None,
                   config: WorldConfig | None = None) -> SimWorld:
        """A built-in scene or a scene YAML; `object` swaps its first object (a procedural category or mesh path)."""
        scene = load_scene(name_or_path)
        if object:
            scene = with_object(scene, object)
        return cls(scene, seed, config)

    def _descends(self, body: int, ancestor: int) -> bool:
        while body > 0:
            if body == ancestor:
                return True
            body = int(self.model.body_parentid[body])
        return False

    def _get_state(self) -> np.ndarray:
        mujoco = _mujoco()
        kind = mujoco.mjtState.mjSTATE_INTEGRATION  # includes the warm start: a reset replays bit for bit
        state = np.empty(mujoco.mj_stateSize(self.model, kind))
        mujoco.mj_getState(self.model, self.data, state, kind)
        return state

    # --- time and control ----------------------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        return float(self.data.time)

    @property
    def timestep_s(self) -> float:
        return float(self.model.opt.timestep)

    def step(self, n: int = 1) -> None:
        """Advance `n` physics steps (one call into MuJoCo: cheaper than n calls)."""
        if n < 0:
            raise ValueError(f"step count must be >= 0, got {n}")
        if n:
            _mujoco().mj_step(self.model, self.data, nstep=int(n))

    def set_targets(self, names, positions_rad) -> None:
        """Position targets (rad) for the named joints (contract names: joint_1..joint_7, "0".."15"); the other
        joints keep theirs. Targets beyond a joint's limits are clipped to them. ValueError for unknown or
        repeated names, a length mismatch or a non-finite target; nothing is applied then."""
        names = [str(n) for n in names]
        positions = np.asarray(positions_rad, dtype=float).reshape(-1)
        if len(names) != len(positions):
            raise ValueError(f"{len(names)} joint names but {len(positions)} positions")
        unknown = [n for n in names if n not in self._index]
        if unknown:
            raise ValueError(f"unknown joints {unknown}; the joints are {list(JOINT_NAMES)}")
        if len(set(names)) != len(names):
            raise ValueError(f"joint names repeat: {names}")
        if not np.isfinite(positions).all():
            raise ValueError(f"joint targets must be finite, got {dict(zip(names, positions.tolist()))}")
        index = np.array([self._index[n] for n in names], dtype=int)
        self.data.ctrl[self._actuator[index]] = np.clip(positions, self._lower[index], self._upper[index])

    def targets(self) -> np.ndarray:
        """(23,) current position targets, contract order."""
        return self.data.ctrl[self._actuator].copy()

    def joint_state(self) -> JointState:
        return JointState(JOINT_NAMES, self.data.qpos[self._qpos].copy(), self.data.qvel[self._dof].copy(),
                          self.data.actuator_force[self._actuator].copy())

    def reset(self, keep_time: bool = False) -> None:
        """Back to the state at time 0 (ready pose, hand open, objects at rest where the scene puts them).
        `keep_time`: the clock goes on from where it was (a ROS graph on sim time must not see it jump back)."""
        mujoco = _mujoco()
        now = self.data.time
        mujoco.mj_setState(self.model, self.data, self._initial_state, mujoco.mjtState.mjSTATE_INTEGRATION)
        if keep_time:
            self.data.time = now
        mujoco.mj_forward(self.model, self.data)

    # --- poses ---------------------------------------------------------------------------------------------
    def _body_pose(self, body: int) -> np.ndarray:
        pose = np.eye(4)
        pose[:3, :3] = self.data.xmat[body].reshape(3, 3)
        pose[:3, 3] = self.data.xpos[body]
        return pose

    def base_pose(self) -> np.ndarray:
        """(4, 4) world <- base_link (fixed)."""
        return self._body_pose(self._base_body)

    def link_poses(self) -> dict[str, np.ndarray]:
        """{robot body name (as in the exported URDF): (4, 4) base_link <- body}, every body but base_link."""
        world_to_base = np.linalg.inv(self.base_pose())
        return {name: world_to_base @ self._body_pose(b) for name, b in self._robot_bodies.items()
                if b != self._base_body}

    def object_poses(self) -> dict[str, np.ndarray]:
        """{object name: (4, 4) world <- object mesh frame}."""
        return {name: self._body_pose(b) for name, b in self._object_bodies.items()}

    def depth_camera_pose(self) -> np.ndarray:
        """(4, 4) base_link <- camera_depth_optical_frame (fixed)."""
        return self.scene.depth_camera.pose()

    # --- cameras -------------------------------------------------------------------------------------------
    def _renderer(self, camera: CameraConfig, depth: bool):
        key = "depth" if depth else "rgb"
        if key not in self._renderers:
            mujoco = _mujoco()
            renderer = mujoco.Renderer(self.model, camera.height, camera.width)
            if depth:
                renderer.enable_depth_rendering()
            else:
                # Shadows and reflections cost more than the rest of a CPU-rasterised frame (notes: 54 -> 7 ms).
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            self._renderers[key] = renderer
        return self._renderers[key]

    def depth_image(self) -> np.ndarray:
        """(H, W) float32 metric z-depth of the depth camera, 0 where nothing is within `depth_range_m`."""
        renderer = self._renderer(self.scene.depth_camera, depth=True)
        renderer.update_scene(self.data, camera=DEPTH_CAMERA)
        depth = np.array(renderer.render(), dtype=np.float32)
        depth[depth > self.config.depth_range_m] = 0.0
        return depth

    def depth_cloud(self) -> DepthCloud:
        """The depth camera's points (pixels with a return, row-major) in its optical frame."""
        depth = self.depth_image()
        intrinsics = self.scene.depth_camera.intrinsics()
        points = back_project(depth, intrinsics, mask=depth > 0).astype(np.float32)
        return DepthCloud(points, intrinsics)

    def rgb_frame(self) -> np.ndarray:
        """(H, W, 3) uint8 picture of the overview camera."""
        renderer = self._renderer(self.scene.overview_camera, depth=False)
        renderer.update_scene(self.data, camera=OVERVIEW_CAMERA)
        return renderer.render().copy()

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def __enter__(self) -> SimWorld:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
