"""The Gen3 + LEAP assembly: MjSpec model, mount parameter, Pinocchio FK against MuJoCo."""

import mujoco
import numpy as np
import pytest

from flash_core.planning import HandMount, write_robot_description
from flash_core.planning.description import AssemblyConfig, assembly_spec


def _body_pose(model, data, name):
    body = model.body(name).id
    pose = np.eye(4)
    pose[:3, :3] = data.xmat[body].reshape(3, 3)
    pose[:3, 3] = data.xpos[body]
    return pose


def test_assembly_compiles_with_options_and_excludes():
    model = assembly_spec().compile()
    assert model.nq == 7 + 16 and model.nu == 7 + 16
    assert model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC and model.opt.impratio == pytest.approx(100.0)
    excluded = {frozenset((model.body(model.exclude_signature[i] >> 16).name,
                           model.body(model.exclude_signature[i] & 0xFFFF).name)) for i in range(model.nexclude)}
    assert frozenset(("base_link", "shoulder_link")) in excluded


def test_mount_parameter_places_palm_on_bracelet():
    mount = HandMount(translation_m=(0.01, 0.02, -0.09), quat_wxyz=(0.0, 1.0, 0.0, 0.0))
    model = assembly_spec(AssemblyConfig(mount=mount)).compile()
    data = mujoco.MjData(model)
    data.qpos[:] = np.random.default_rng(0).uniform(-1, 1, model.nq) * 0.3
    mujoco.mj_kinematics(model, data)
    relative = np.linalg.inv(_body_pose(model, data, "bracelet_link")) @ _body_pose(model, data, "leap_palm")
    np.testing.assert_allclose(relative, mount.matrix(), atol=1e-9)


@pytest.mark.parametrize("bad", [dict(translation_m=(0, 0, np.nan)), dict(quat_wxyz=(1.0, 1.0, 0.0, 0.0)),
                                 dict(translation_m=(0.0, 0.0))])
def test_bad_mount_is_rejected(bad):
    with pytest.raises(ValueError):
        HandMount(**bad)


def test_pinocchio_fk_matches_mujoco(robot):
    """Pinocchio's appendModel assembly and MuJoCo's MjSpec assembly agree on every body pose."""
    model = assembly_spec().compile()
    data = mujoco.MjData(model)
    rng = np.random.default_rng(1)
    qpos_index = {model.joint(j).name: int(model.jnt_qposadr[j]) for j in range(model.njnt)}
    bodies = [model.body(b).name for b in range(1, model.nbody)]
    assert len(bodies) == 8 + 17
    for _ in range(20):
        q = rng.uniform(robot.lower_rad, robot.upper_rad)
        for name, value in zip(robot.joint_names, q):
            data.qpos[qpos_index[name]] = value
        mujoco.mj_kinematics(model, data)
        for body in bodies:
            np.testing.assert_allclose(robot.frame_pose(q, body), _body_pose(model, data, body), atol=1e-9,
                                       err_msg=body)


def test_written_mjcf_loads_in_mujoco(tmp_path):
    paths = write_robot_description(tmp_path)
    model = mujoco.MjModel.from_xml_path(str(paths["mjcf"]))
    assert model.nq == 23 and model.body("leap_palm").id > 0


def test_unknown_frame_is_named(robot):
    with pytest.raises(KeyError, match="no_such_link"):
        robot.frame_pose(robot.full_q(np.zeros(7)), "no_such_link")


def test_urdf_matches_mujoco_links_and_meshes(tmp_path):
    """The exported URDF, read by Pinocchio, puts every link and collision mesh where MuJoCo does."""
    import pinocchio as pin

    paths = write_robot_description(tmp_path)
    model = mujoco.MjModel.from_xml_path(str(paths["mjcf"]))
    data = mujoco.MjData(model)
    urdf_model, urdf_collision, _ = pin.buildModelsFromUrdf(str(paths["urdf"]))
    urdf_data = urdf_model.createData()
    urdf_geom_data = urdf_collision.createData()
    rng = np.random.default_rng(5)
    data.qpos[:] = rng.uniform(-1.0, 1.0, model.nq)
    mujoco.mj_kinematics(model, data)
    q = pin.neutral(urdf_model)
    for j in range(1, urdf_model.njoints):  # continuous joints are (cos, sin) pairs in Pinocchio
        angle = data.qpos[model.joint(urdf_model.names[j]).qposadr[0]]
        start, width = urdf_model.joints[j].idx_q, urdf_model.joints[j].nq
        q[start:start + width] = [angle] if width == 1 else [np.cos(angle), np.sin(angle)]
    pin.framesForwardKinematics(urdf_model, urdf_data, q)
    pin.updateGeometryPlacements(urdf_model, urdf_data, urdf_collision, urdf_geom_data)
    for body in range(1, model.nbody):
        frame = urdf_model.getFrameId(model.body(body).name)
        np.testing.assert_allclose(urdf_data.oMf[frame].homogeneous, _body_pose(model, data, model.body(body).name),
                                   atol=1e-7)
    mesh_geoms = [g for g in range(model.ngeom)
                  if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH and model.geom_contype[g]]
    urdf_meshes = [o for o in urdf_collision.geometryObjects if o.meshPath.endswith((".stl", ".obj"))]
    assert len(urdf_meshes) == len(mesh_geoms)
    for g, obj in zip(mesh_geoms, urdf_meshes):
        mesh = model.geom_dataid[g]
        local = model.mesh_vert[model.mesh_vertadr[mesh]:model.mesh_vertadr[mesh] + model.mesh_vertnum[mesh]]
        mj_world = local @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g]
        placement = urdf_geom_data.oMg[urdf_collision.getGeometryId(obj.name)]
        urdf_local = np.asarray(obj.geometry.vertices())
        urdf_world = urdf_local @ placement.rotation.T + placement.translation
        np.testing.assert_allclose(urdf_world.min(0), mj_world.min(0), atol=1e-5)
        np.testing.assert_allclose(urdf_world.max(0), mj_world.max(0), atol=1e-5)


def test_cli_writes_description_with_the_given_mount(tmp_path, capsys):
    from flash_core.cli import main

    main(["robot-description", "--out", str(tmp_path), "--mount-xyz", "0.0", "0.01", "-0.1",
          "--mount-quat", "1", "0", "0", "0"])
    assert "gen3_leap.urdf" in capsys.readouterr().out
    model = mujoco.MjModel.from_xml_path(str(tmp_path / "gen3_leap.xml"))
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    relative = np.linalg.inv(_body_pose(model, data, "bracelet_link")) @ _body_pose(model, data, "leap_palm")
    np.testing.assert_allclose(relative[:3, 3], (0.0, 0.01, -0.1), atol=1e-9)
    np.testing.assert_allclose(relative[:3, :3], np.eye(3), atol=1e-9)
