"""A URDF of the compiled Gen3 + LEAP assembly, for RViz / MoveIt users.

Written from the compiled MuJoCo model, so frames (the hand mount) are already composed. MuJoCo re-centres
mesh vertices on their inertial frame and moves the geom to compensate; the URDF references the original mesh
files, so each mesh geom's pose is taken back to the file's frame (geom pose * inverse(mesh_pos, mesh_quat)).
Mesh paths are absolute file:// URIs into the asset cache: regenerate the file on each machine.
"""

from __future__ import annotations

import warnings
from xml.etree import ElementTree as ET

import numpy as np


def _pose_matrix(pos, quat_wxyz) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    out = np.eye(4)
    w, x, y, z = quat_wxyz
    out[:3, :3] = Rotation.from_quat([x, y, z, w]).as_matrix()
    out[:3, 3] = pos
    return out


def _origin(parent: ET.Element, pose: np.ndarray) -> None:
    from scipy.spatial.transform import Rotation

    with warnings.catch_warnings():  # at pitch +-pi/2 scipy warns, and still returns an exact equivalent
        warnings.simplefilter("ignore", UserWarning)
        rpy = Rotation.from_matrix(pose[:3, :3]).as_euler("xyz")  # extrinsic x-y-z = URDF roll-pitch-yaw
    ET.SubElement(parent, "origin", xyz=" ".join(f"{v:.9g}" for v in pose[:3, 3]),
                  rpy=" ".join(f"{v:.9g}" for v in rpy))


def _geometry(model, geom: int) -> tuple[np.ndarray, ET.Element]:
    """(pose of the shape in its body frame (4, 4), <geometry> element) for one MuJoCo geom."""
    import mujoco

    pose = _pose_matrix(model.geom_pos[geom], model.geom_quat[geom])
    shape = ET.Element("geometry")
    kind = model.geom_type[geom]
    size = model.geom_size[geom]
    if kind == mujoco.mjtGeom.mjGEOM_MESH:
        mesh = int(model.geom_dataid[geom])
        pose = pose @ np.linalg.inv(_pose_matrix(model.mesh_pos[mesh], model.mesh_quat[mesh]))
        path = model.paths[int(model.mesh_pathadr[mesh]):].split(b"\0", 1)[0].decode()
        ET.SubElement(shape, "mesh", filename=f"file://{path}")
    elif kind == mujoco.mjtGeom.mjGEOM_BOX:
        ET.SubElement(shape, "box", size=" ".join(f"{2 * v:.9g}" for v in size))
    elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        ET.SubElement(shape, "sphere", radius=f"{size[0]:.9g}")
    elif kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
        ET.SubElement(shape, "cylinder", radius=f"{size[0]:.9g}", length=f"{2 * size[1]:.9g}")
    else:
        raise ValueError(f"geom '{model.geom(geom).name}' has a type URDF cannot express ({kind})")
    return pose, shape


def mjcf_to_urdf(model, robot_name: str, joint_limits: dict[str, tuple[float, float]] | None = None) -> str:
    """URDF text for a compiled MjModel of a fixed-base tree of hinge joints.

    joint_limits: joint name -> (effort, velocity) for URDF <limit>; joints missing from it get 0, 0 (unknown).
    """
    joint_limits = joint_limits or {}
    import mujoco

    robot = ET.Element("robot", name=robot_name)
    for body in range(1, model.nbody):
        name = model.body(body).name
        link = ET.SubElement(robot, "link", name=name)
        inertial = ET.SubElement(link, "inertial")
        _origin(inertial, _pose_matrix(model.body_ipos[body], model.body_iquat[body]))
        ET.SubElement(inertial, "mass", value=f"{model.body_mass[body]:.9g}")
        ixx, iyy, izz = model.body_inertia[body]
        ET.SubElement(inertial, "inertia", ixx=f"{ixx:.9g}", iyy=f"{iyy:.9g}", izz=f"{izz:.9g}",
                      ixy="0", ixz="0", iyz="0")
        for geom in np.flatnonzero(model.geom_bodyid == body):
            # Visual geoms do not collide (contype = conaffinity = 0); everything else is collision geometry.
            is_visual = model.geom_contype[geom] == 0 and model.geom_conaffinity[geom] == 0
            element = ET.SubElement(link, "visual" if is_visual else "collision")
            pose, shape = _geometry(model, int(geom))
            _origin(element, pose)
            element.append(shape)

        parent = int(model.body_parentid[body])
        joints = np.flatnonzero(model.jnt_bodyid == body)
        if len(joints) > 1:
            raise ValueError(f"body '{name}' has {len(joints)} joints; URDF allows one per link")
        if len(joints) == 1:
            j = int(joints[0])
            if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE or np.abs(model.jnt_pos[j]).max() > 1e-12:
                raise ValueError(f"joint '{model.joint(j).name}' is not a hinge at its body origin")
            limited = bool(model.jnt_limited[j])
            joint = ET.SubElement(robot, "joint", name=model.joint(j).name,
                                  type="revolute" if limited else "continuous")
            ET.SubElement(joint, "axis", xyz=" ".join(f"{v:.9g}" for v in model.jnt_axis[j]))
        else:
            joint = ET.SubElement(robot, "joint", name=f"{model.body(parent).name}_to_{name}", type="fixed")
        if parent == 0:
            if len(joints):
                raise ValueError(f"root body '{name}' must be fixed to the world")
            robot.remove(joint)
            continue
        ET.SubElement(joint, "parent", link=model.body(parent).name)
        ET.SubElement(joint, "child", link=name)
        _origin(joint, _pose_matrix(model.body_pos[body], model.body_quat[body]))
        if joint.get("type") == "revolute":
            lo, hi = model.jnt_range[j]
            effort, velocity = joint_limits.get(model.joint(j).name, (0.0, 0.0))
            ET.SubElement(joint, "limit", lower=f"{lo:.9g}", upper=f"{hi:.9g}", effort=f"{effort:.9g}",
                          velocity=f"{velocity:.9g}")
    ET.indent(robot)
    return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"
