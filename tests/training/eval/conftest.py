"""What the evaluation tests share: the packaged LEAP grasps known to hold a cylinder, and their scene."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from flash_training.eval.convex import convex_pieces
from flash_training.eval.grasp_file import read_grasp_file
from flash_training.eval.runner import EvalConfig, approach_directions, grasp_pose
from flash_training.eval.scene import GraspScene

DATA = Path(__file__).parent / "data"
GOOD_FILE = DATA / "leap_cylinder_good.json"


@pytest.fixture(scope="session")
def good_input():
    """Two LEAP grasps of a 6 cm x 12 cm cylinder, synthesised by FLASH-Drive and checked to hold in both
    protocols when they were stored."""
    return read_grasp_file(GOOD_FILE)


@pytest.fixture(scope="session")
def cylinder_scene(good_input):
    mesh = good_input.objects["cylinder"].mesh
    return GraspScene("leap", mesh, convex_pieces(mesh))


@pytest.fixture(scope="session")
def leap_approach():
    return approach_directions({"leap"})["leap"]


@pytest.fixture(scope="session")
def good_poses(good_input, leap_approach):
    return [grasp_pose(c.x, c.up_in_object, leap_approach) for c in good_input.cases]


def shifted(x: np.ndarray, offset_m: np.ndarray) -> np.ndarray:
    """The grasp with its wrist moved by offset_m (object frame)."""
    return np.concatenate([x[:3] + offset_m, x[3:]])


@pytest.fixture()
def quiet_config():
    return replace(EvalConfig(), progress=False)


def close_on_object(scene, hand_name: str, radius_m: float) -> np.ndarray:
    """A power grasp of the scene's upright cylinder (radius `radius_m`, axis z, centre at the origin), built by
    hand in the simulator with the object held still: the open hand, palm towards the axis and fingers across it,
    moves in until it touches; then every joint closes along the pre-grasp direction in small steps and stops
    when a link it moves touches the object (so proximal links stop first and the distal ones wrap on). Returns
    x (25,) in the object frame."""
    import mujoco
    import torch

    from flash_core.geometry.rotations import matrix_to_quaternion, matrix_to_rot6d
    from flash_core.hands import make_hand

    hand = make_hand(hand_name, dtype=torch.float64)
    normal = hand.palm_frame().normal.numpy()
    poses = hand.open_pose(2)
    poses[1, 9:] = hand.pregrasp_joints()
    fingers = hand.contact_finger_index.numpy() != hand.finger_names.index("thumb")
    tips = hand.contact_candidates(poses).numpy()[:, fingers].mean(1)  # open, curled (2, 3)
    along = tips[0] - tips[1] - ((tips[0] - tips[1]) @ normal) * normal  # where straight fingers point
    along /= np.linalg.norm(along)
    # Palm normal -> -x (towards the axis), fingers -> +y, so the cylinder's axis (z) runs across the fingers.
    rotation = np.stack([[-1.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0]], 1) @ np.stack(
        [normal, along, np.cross(normal, along)], 1).T
    quat = matrix_to_quaternion(torch.as_tensor(rotation)).numpy()
    model, data = scene.model, scene.data
    opened, curled = np.asarray(scene.hand_spec.open_joints), np.asarray(scene.hand_spec.pregrasp_joints)
    joints = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in scene.hand_spec.model_joint_names]
    moved_by = [{b for b in range(model.nbody) if b == model.jnt_bodyid[j] or scene._descends(b, model.jnt_bodyid[j])}
                for j in joints]  # bodies each joint moves
    # The cylinder's axis goes one radius in from the knuckles (the finger joints' bodies), so the fingers wrap it.
    scene.reset(np.zeros(3), quat, opened)
    thumb = scene.hand_spec.contact_fingers["thumb"].links[-1]
    knuckles = np.mean([data.xpos[model.jnt_bodyid[j]] for j, bodies in zip(joints, moved_by)
                        if model.body(thumb).id not in bodies], 0)
    offset = np.array([0.0, -knuckles[1] + radius_m, -knuckles[2]])
    dof = model.jnt_dofadr[model.body_jntadr[scene.object_body]]

    def step(n: int) -> set[int]:
        for _ in range(n):
            mujoco.mj_step(model, data)
            data.qpos[scene.object_qpos:scene.object_qpos + 7] = [0, 0, 0, 1, 0, 0, 0]
            data.qvel[dof:dof + 6] = 0.0
        mujoco.mj_forward(model, data)
        return {int(model.geom_bodyid[g]) for c in data.contact[:data.ncon] for g in (c.geom1, c.geom2)}

    x = radius_m + 0.2
    scene.reset(offset + [x, 0, 0], quat, opened)
    while scene.object_body not in step(0):
        x -= 0.0005
        scene.command(offset + [x, 0, 0], quat, opened)
        step(3)
    wrist = offset + [x + 0.002, 0, 0]
    scene.reset(wrist, quat, opened)
    direction = (curled - opened) / np.abs(curled - opened).max()
    target, closing = opened.copy(), direction != 0
    for _ in range(600):
        target = scene.clip(np.where(closing, target + 0.005 * direction, target))
        scene.command(wrist, quat, target)
        touching = step(5)
        for k, bodies in enumerate(moved_by):
            if closing[k] and (touching & bodies or target[k] in (scene.ctrl_range[k, 0], scene.ctrl_range[k, 1])):
                closing[k], target[k] = False, data.qpos[scene.joint_qpos[k]]
        if not closing.any():
            break
    step(50)
    root = data.qpos[scene.hand_qpos:scene.hand_qpos + 7]
    matrix = np.empty(9)
    mujoco.mju_quat2Mat(matrix, root[3:])
    return np.concatenate([root[:3], matrix_to_rot6d(torch.as_tensor(matrix.reshape(3, 3))).numpy(),
                           data.qpos[scene.joint_qpos]])


@pytest.fixture(scope="session", params=["leap", "allegro"])
def power_grasp(request, good_input):
    """(hand, scene, x): a hand-built power grasp of the packaged 6 cm x 12 cm cylinder."""
    mesh = good_input.objects["cylinder"].mesh
    scene = GraspScene(request.param, mesh, convex_pieces(mesh))
    return request.param, scene, close_on_object(scene, request.param, radius_m=0.03)
