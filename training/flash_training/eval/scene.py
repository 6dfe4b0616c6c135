"""One MuJoCo scene per (hand, object): the official hand model held by a mocap weld, and a free object.

- Hand: the hand's official MJCF (`flash_core.hands.mjcf.load_source`: Menagerie's model with FLASH's patches)
  with its own collision geometry (LEAP: boxes plus the fingertip meshes; Allegro: boxes and fingertip
  capsules), its own position actuators and contact excludes. Its root body keeps the model's free joint and is
  welded to a mocap body, as in DexGraspBench, so moving the mocap body moves the wrist with the arm's stiffness
  rather than teleporting it. Hand bodies are gravity-compensated: an arm holds the hand, only the object feels
  gravity.
- Finger servos: DexGraspBench's (its Allegro file: kp 2 N m/rad, joint damping 0.1 N m s/rad, no actuator
  damping) on every hand, in place of the files' own (Allegro kp 24 / kv 8, LEAP kp 8 / kv 5.6). Those stiff
  servos on finger links as light as 3.5e-7 kg m^2 are unstable in contact at the 4 ms step: the fingers chatter
  and throw the object (measured: a wrap grasp of a cylinder that holds at 1 ms, or with 0.001 kg m^2 of
  armature, is thrown 10-80 cm at 4 ms), and they squeeze ten times harder than the benchmark whose figures we
  compare with, which would make the test lenient.
- Object: a free body whose collision shape is the mesh's convex decomposition (`convex.py`), mass
  `object_mass_kg` with the inertia of the (water-tight) mesh, placed at the object frame's origin, with
  MuJoCo's default contact softness (DexGraspBench's object keeps them; the hand file's geom defaults must not
  reach it: LEAP's would make it rigid).
- Physics (DexGraspBench's MuJoCo settings, `SimConfig`): timestep 4 ms, implicit-fast integrator, elliptic
  friction cones, impratio 10, 2 no-slip iterations, condim 4 with friction 0.6 sliding / 0.02 torsional on
  every geom, hand contacts with solref (0.005, 1) and solimp (0.5, 0.99, 0.0001) (stiff, little penetration),
  weld solimp (0.9, 0.95, 0.001, 0.5, 2). Gravity is a run-time vector (`set_gravity`), zero unless a protocol
  turns it on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from flash_training.eval.convex import ConvexPieces

from flash_core.sim import require_mujoco as _mujoco

OBJECT_BODY = "flash_object"
MOCAP_BODY = "flash_wrist_target"


@dataclass(frozen=True)
class SimConfig:
    """Physics settings (DexGraspBench's, see the module docstring)."""

    timestep_s: float = 0.004
    impratio: float = 10.0
    noslip_iterations: int = 2
    friction: tuple[float, float, float] = (0.6, 0.02, 0.0001)  # sliding, torsional, rolling
    condim: int = 4
    object_mass_kg: float = 0.1
    hand_solref: tuple[float, float] = (0.005, 1.0)
    hand_solimp: tuple[float, float, float] = (0.5, 0.99, 0.0001)
    object_solref: tuple[float, float] = (0.02, 1.0)  # MuJoCo's defaults
    object_solimp: tuple[float, float, float, float, float] = (0.9, 0.95, 0.001, 0.5, 2.0)
    joint_kp: float | None = 2.0  # N m/rad on every finger servo; None keeps the hand file's servos
    joint_damping: float = 0.1  # N m s/rad, with joint_kp (the servos then have no damping of their own)
    weld_solimp: tuple[float, float, float, float, float] = (0.9, 0.95, 0.001, 0.5, 2.0)


@dataclass(frozen=True)
class Contacts:
    """Contacts at the current state. Depths are positive when geoms overlap (metres)."""

    hand_object_depth_m: float  # deepest hand-object overlap (0 when none)
    self_depth_m: float  # deepest overlap between two hand geoms (0 when none)
    object_links: tuple[str, ...]  # hand bodies touching the object (sorted, unique)


def object_inertia(mesh: trimesh.Trimesh, pieces: ConvexPieces, mass_kg: float) -> tuple[np.ndarray, np.ndarray]:
    """(centre of mass (3,), full inertia [ixx, iyy, izz, ixy, ixz, iyz]) of a uniform body of `mass_kg`; the
    mesh gives them when it is a closed volume, else the hull of its convex pieces."""
    closed = mesh.is_watertight and mesh.volume > 0
    solid = mesh if closed else trimesh.convex.convex_hull(np.concatenate(pieces.vertices))
    inertia = np.asarray(solid.moment_inertia) * (mass_kg / solid.mass)  # trimesh: density 1, about the CoM
    full = [inertia[0, 0], inertia[1, 1], inertia[2, 2], inertia[0, 1], inertia[0, 2], inertia[1, 2]]
    return np.asarray(solid.center_mass), np.asarray(full)


class GraspScene:
    """MjModel + MjData of one hand and one object, with the handles the protocols need."""

    def __init__(self, hand: str, mesh: trimesh.Trimesh, pieces: ConvexPieces, config: SimConfig | None = None):
        mujoco = _mujoco()
        from flash_core.hands.mjcf import load_source
        from flash_core.hands.spec import load_spec

        config = config or SimConfig()
        self.hand_spec = load_spec(hand)
        self.config = config
        spec = mujoco.MjSpec.from_string(load_source(self.hand_spec, primitives=False).xml)
        spec.option.timestep = config.timestep_s
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        spec.option.impratio = config.impratio
        spec.option.noslip_iterations = config.noslip_iterations
        spec.option.gravity = [0.0, 0.0, 0.0]
        root = spec.body(self.hand_spec.root_body)
        if not any(j.type == mujoco.mjtJoint.mjJNT_FREE for j in root.joints):
            root.add_freejoint()
        for body in [root, *root.find_all(mujoco.mjtObj.mjOBJ_BODY)]:
            body.gravcomp = 1.0
        for geom in spec.geoms:
            geom.solref[:2] = config.hand_solref
            geom.solimp[:3] = config.hand_solimp
        if config.joint_kp is not None:
            for actuator in spec.actuators:
                actuator.gainprm[0], actuator.biasprm[1], actuator.biasprm[2] = config.joint_kp, -config.joint_kp, 0.0
            for joint in root.find_all(mujoco.mjtObj.mjOBJ_JOINT):
                if joint.type != mujoco.mjtJoint.mjJNT_FREE:
                    joint.damping[0] = config.joint_damping  # MuJoCo 4: [linear, 2 higher-order terms]
        spec.worldbody.add_body(name=MOCAP_BODY, mocap=True)
        spec.add_equality(type=mujoco.mjtEq.mjEQ_WELD, name1=MOCAP_BODY, name2=self.hand_spec.root_body,
                          objtype=mujoco.mjtObj.mjOBJ_BODY, solimp=list(config.weld_solimp),
                          data=[0.0] * 6 + [1.0, 0.0, 0.0, 0.0] + [1.0, 0.0])  # anchor, relpose = identity, torquescale
        body = spec.worldbody.add_body(name=OBJECT_BODY)
        body.add_freejoint()
        centre, inertia = object_inertia(mesh, pieces, config.object_mass_kg)
        body.explicitinertial = True
        body.mass, body.ipos, body.fullinertia = config.object_mass_kg, centre, inertia
        for i, vertices in enumerate(pieces.vertices):
            spec.add_mesh(name=f"{OBJECT_BODY}_piece_{i}", uservert=vertices.ravel().tolist())
            body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"{OBJECT_BODY}_piece_{i}", density=0.0,
                          solref=list(config.object_solref), solimp=list(config.object_solimp))
        for geom in spec.geoms:
            geom.friction = list(config.friction)
            geom.condim = config.condim
        self.model = model = spec.compile()
        self.data = mujoco.MjData(model)

        joint_id = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in self.hand_spec.model_joint_names]
        self.joint_qpos = np.array([model.jnt_qposadr[j] for j in joint_id])  # FLASH order
        actuator_of_joint = {int(model.actuator_trnid[a, 0]): a for a in range(model.nu)}
        missing = [n for n, j in zip(self.hand_spec.model_joint_names, joint_id) if j not in actuator_of_joint]
        if missing:
            raise ValueError(f"hand {hand}: joints {missing} have no position actuator in the official model")
        self.joint_actuator = np.array([actuator_of_joint[j] for j in joint_id])
        self.ctrl_range = model.actuator_ctrlrange[self.joint_actuator].copy()  # (16, 2)
        root_id = model.body(self.hand_spec.root_body).id
        self.hand_qpos = int(model.jnt_qposadr[model.body_jntadr[root_id]])
        self.object_body = model.body(OBJECT_BODY).id
        self.object_qpos = int(model.jnt_qposadr[model.body_jntadr[self.object_body]])
        self.mocap = int(model.body_mocapid[model.body(MOCAP_BODY).id])
        self.hand_bodies = {b for b in range(model.nbody) if b == root_id or self._descends(b, root_id)}

    def _descends(self, body: int, ancestor: int) -> bool:
        while body > 0:
            body = int(self.model.body_parentid[body])
            if body == ancestor:
                return True
        return False

    def reset(self, wrist_pos: np.ndarray, wrist_quat: np.ndarray, joints: np.ndarray) -> None:
        """Object at the origin at rest, the hand at the wrist pose (quaternion w, x, y, z) with its joints and
        position targets at `joints` (FLASH order, clipped to the actuator ranges)."""
        mujoco = _mujoco()
        mujoco.mj_resetData(self.model, self.data)
        joints = self.clip(joints)
        self.data.qpos[self.hand_qpos:self.hand_qpos + 3] = wrist_pos
        self.data.qpos[self.hand_qpos + 3:self.hand_qpos + 7] = wrist_quat
        self.data.qpos[self.joint_qpos] = joints
        self.data.qpos[self.object_qpos:self.object_qpos + 7] = [0, 0, 0, 1, 0, 0, 0]
        self.command(wrist_pos, wrist_quat, joints)
        mujoco.mj_forward(self.model, self.data)

    def clip(self, joints: np.ndarray) -> np.ndarray:
        return np.clip(joints, self.ctrl_range[:, 0], self.ctrl_range[:, 1])

    def command(self, wrist_pos: np.ndarray, wrist_quat: np.ndarray, joints: np.ndarray) -> None:
        """Set the wrist target (mocap) and the joint position targets (FLASH order)."""
        self.data.mocap_pos[self.mocap] = wrist_pos
        self.data.mocap_quat[self.mocap] = wrist_quat
        self.data.ctrl[self.joint_actuator] = self.clip(joints)

    def set_gravity(self, acceleration: np.ndarray) -> None:
        self.model.opt.gravity[:] = acceleration

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """(position (3,), quaternion w, x, y, z (4,)) of the object frame."""
        q = self.data.qpos[self.object_qpos:self.object_qpos + 7]
        return q[:3].copy(), q[3:].copy()

    def object_speed(self) -> float:
        """Linear speed of the object frame origin's free joint (m/s)."""
        dof = int(self.model.jnt_dofadr[self.model.body_jntadr[self.object_body]])
        return float(np.linalg.norm(self.data.qvel[dof:dof + 3]))

    def contacts(self) -> Contacts:
        """Hand-object and hand-hand overlaps at the current state (after mj_forward or a step)."""
        model, data = self.model, self.data
        object_depth, self_depth, links = 0.0, 0.0, set()
        for contact in data.contact[: data.ncon]:
            b1, b2 = int(model.geom_bodyid[contact.geom1]), int(model.geom_bodyid[contact.geom2])
            depth = max(0.0, -float(contact.dist))
            if {b1, b2} <= self.hand_bodies:
                self_depth = max(self_depth, depth)
            elif self.object_body in (b1, b2):
                other = b2 if b1 == self.object_body else b1
                if other in self.hand_bodies:
                    object_depth = max(object_depth, depth)
                    links.add(model.body(other).name)
        return Contacts(object_depth, self_depth, tuple(sorted(links)))
