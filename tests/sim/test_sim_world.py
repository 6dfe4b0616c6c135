"""The simulated world without ROS: the model, the depth camera's geometry, servo tracking, determinism, errors."""

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

pytest.importorskip("mujoco")

from flash_sim.scene import BUILT_IN_SCENES, load_scene, object_mesh, with_object  # noqa: E402
from flash_sim.world import JOINT_NAMES, SimWorld  # noqa: E402

from flash_core.hands.spec import load_spec  # noqa: E402


@pytest.fixture(scope="module")
def world():
    with SimWorld.from_scene("tabletop", seed=0) as sim:
        yield sim


def test_model_holds_robot_table_and_object(world):
    assert world.model.nu == 23 and world.model.nq == 23 + 7  # 23 joints and the mug's free joint
    assert JOINT_NAMES == tuple(f"joint_{i}" for i in range(1, 8)) + load_spec("leap").joint_names
    state = world.joint_state()
    assert state.names == JOINT_NAMES and state.positions_rad.shape == (23,)
    np.testing.assert_allclose(state.positions_rad[7:], 0.0, atol=1e-3)  # hand open (flat)
    base = world.base_pose()
    assert base[2, 3] == pytest.approx(world.scene.table.height_m)
    mug = world.object_poses()["mug"]
    lowest = (object_mesh(world.scene.objects[0], 0).vertices @ mug[:3, :3].T + mug[:3, 3])[:, 2].min()
    assert lowest == pytest.approx(base[2, 3], abs=2e-3), "the mug rests on the table top"
    links = world.link_poses()
    assert "leap_palm" in links and "base_link" not in links
    assert links["leap_palm"][2, 3] > 0.2, "the ready pose holds the hand above the table"


def test_depth_cloud_lies_on_the_object_and_the_table(world):
    cloud = world.depth_cloud()
    k = cloud.intrinsics
    assert (k.width, k.height) == (320, 240) and cloud.points_m.dtype == np.float32
    assert (cloud.points_m[:, 2] > 0).all()
    base_points = cloud.points_m @ world.depth_camera_pose()[:3, :3].T + world.depth_camera_pose()[:3, 3]
    # Table: a large share of the points, all at z = 0 of base_link.
    on_table = np.abs(base_points[:, 2]) < 2e-3
    assert on_table.mean() > 0.3
    # Object: points above the table near the mug lie on its mesh surface.
    mug_in_base = np.linalg.inv(world.base_pose()) @ world.object_poses()["mug"]
    near = (np.linalg.norm(base_points[:, :2] - mug_in_base[:2, 3], axis=1) < 0.12) & (base_points[:, 2] > 3e-3)
    assert near.sum() > 300, "the mug is in view"
    local = (base_points[near] - mug_in_base[:3, 3]) @ mug_in_base[:3, :3]
    mesh = object_mesh(world.scene.objects[0], 0)
    _, distance, _ = trimesh.proximity.closest_point(mesh, local)
    assert np.percentile(distance, 95) < 2e-3 and distance.max() < 5e-3
    # A partial view: much of the mug's surface (its far side, under it) has no point near it.
    surface = trimesh.sample.sample_surface(mesh, 2000, seed=0)[0]
    seen = cKDTree(local).query(surface)[0] < 5e-3
    assert 0.1 < seen.mean() < 0.7


def test_position_targets_are_tracked_and_reset_restores_the_start(world):
    start = world.joint_state().positions_rad.copy()
    goal = start.copy()
    goal[0] += 0.2  # joint_1
    goal[5] -= 0.1  # joint_6
    goal[7 + 1] = 0.8  # LEAP "1": index MCP flexion (free space: the hand is above the table)
    world.set_targets(["joint_1", "joint_6", "1"], goal[[0, 5, 8]])
    t0 = world.time_s
    world.step(int(round(1.0 / world.timestep_s)))
    assert world.time_s == pytest.approx(t0 + 1.0)
    reached = world.joint_state().positions_rad
    np.testing.assert_allclose(reached[:7], goal[:7], atol=5e-3)
    assert reached[8] == pytest.approx(0.8, abs=0.05)
    np.testing.assert_allclose(world.targets()[[0, 5, 8]], goal[[0, 5, 8]])
    world.reset()
    assert world.time_s == 0.0
    np.testing.assert_allclose(world.joint_state().positions_rad, start)


def test_same_seed_same_trajectory_and_the_seed_shapes_the_object(world):
    def run(sim):
        sim.reset()
        sim.set_targets(["joint_2", "5"], [0.5, 0.6])
        sim.step(100)
        return sim.data.qpos.copy()

    first = run(world)
    with SimWorld.from_scene("tabletop", seed=0) as other:
        np.testing.assert_array_equal(run(other), first)
    np.testing.assert_array_equal(run(world), first)  # and after a reset
    mug = world.scene.objects[0]
    assert not np.array_equal(object_mesh(mug, 0).vertices, object_mesh(mug, 1).vertices)


def test_bad_inputs_raise_clear_errors(world):
    before = world.targets()
    with pytest.raises(ValueError, match="unknown joints"):
        world.set_targets(["joint_9"], [0.0])
    with pytest.raises(ValueError, match="finite"):
        world.set_targets(["joint_1", "3"], [0.1, float("nan")])
    with pytest.raises(ValueError, match="2 joint names but 1 positions"):
        world.set_targets(["joint_1", "3"], [0.1])
    with pytest.raises(ValueError, match="repeat"):
        world.set_targets(["joint_1", "joint_1"], [0.1, 0.2])
    np.testing.assert_array_equal(world.targets(), before)  # nothing applied
    with pytest.raises(ValueError, match="unknown scene 'kitchen'"):
        load_scene("kitchen")
    with pytest.raises(ValueError, match="unknown procedural category 'teapot'"):
        with_object(load_scene("tabletop"), "teapot")
    with pytest.raises(FileNotFoundError):
        load_scene("/nonexistent/scene.yaml")
    with pytest.raises(ValueError, match="step count"):
        world.step(-1)


def test_built_in_scenes_load_and_a_scene_file_can_be_edited(tmp_path):
    assert {"tabletop", "hammer"} <= set(BUILT_IN_SCENES)
    for name in BUILT_IN_SCENES:
        assert load_scene(name).objects
    bottle = with_object(load_scene("tabletop"), "bottle")
    assert bottle.objects[0].name == "bottle" and bottle.objects[0].procedural == "bottle"
    path = tmp_path / "bad.yaml"
    path.write_text("objects: []\nlights: 3\n")
    with pytest.raises(ValueError, match="unknown keys \\['lights'\\]"):
        load_scene(path)


def test_isaaclab_scene_says_isaaclab_is_missing_and_bridges_the_same_topics(world):
    import importlib.util

    from flash_sim import isaaclab_scene

    if importlib.util.find_spec("isaaclab") is None:
        with pytest.raises(ImportError, match="IsaacLab is not installed"):
            isaaclab_scene.make_scene_cfg("tabletop")
        with pytest.raises(ImportError, match="IsaacLab is not installed"):
            isaaclab_scene.build_ros2_bridge("/World/Robot", "/World/Camera")
    topics = {value for node in isaaclab_scene.BRIDGE_NODES for key, value in node.values if key.endswith("topicName")}
    assert topics == {"clock", "isaac_joint_states", "isaac_joint_commands", "tf", "camera/depth/points",
                      "camera/depth/camera_info"}
    names = {node.name for node in isaaclab_scene.BRIDGE_NODES}
    for source, target in isaaclab_scene.BRIDGE_CONNECTIONS:  # every connection joins two nodes of the graph
        assert source.split(".")[0] in names and target.split(".")[0] in names
    gains = isaaclab_scene.servo_gains()  # the MuJoCo world's servos, joint by joint
    assert len(gains) == 23 and gains["joint_1"] == (2000.0, 100.0) and gains["leap_if_mcp"] == (2.0, 0.1)
    model = world.model
    for actuator in range(model.nu):
        joint = int(model.actuator_trnid[actuator, 0])
        kp, kd = gains[model.joint(joint).name]
        assert model.actuator_gainprm[actuator, 0] == kp
        assert -model.actuator_biasprm[actuator, 2] + model.dof_damping[model.jnt_dofadr[joint]] == pytest.approx(kd)
