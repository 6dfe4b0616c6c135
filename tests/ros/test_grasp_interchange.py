"""flash_interfaces/Grasp messages, as the grasp server builds them, -> isaac_grasp and moveit_msgs/Grasp fields:
the same result as converting the core grasps directly (no DDS needed: message conversion only)."""

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from scipy.spatial.transform import Rotation

from flash_core.generator import Grasp
from flash_core.hands.spec import load_spec
from flash_core.interchange.isaac_grasp import IsaacGraspError, isaac_grasps_from_generator
from flash_grasp_server.grasp_msgs import PREGRASP_DISTANCE_M, grasp_to_msg
from flash_ros.interchange import isaac_grasps_from_msgs, moveit_grasp_fields_from_msg

SPEC = load_spec("leap")
PALM_NORMAL = np.array([0.0, 0.0, -1.0])  # hand root frame; the server passes the hand model's


def _grasps() -> list[Grasp]:
    rng = np.random.default_rng(7)
    grasps = []
    for k in range(3):
        matrix = np.eye(4)
        matrix[:3, :3] = Rotation.random(random_state=k).as_matrix()
        matrix[:3, 3] = rng.uniform(-0.1, 0.1, 3)
        grasps.append(Grasp(translation_m=matrix[:3, 3].copy(), rot6d=matrix[:3, :2].T.ravel(), matrix=matrix,
                            quaternion_wxyz=np.roll(Rotation.from_matrix(matrix[:3, :3]).as_quat(), 1),
                            joint_positions=rng.uniform(0.0, 0.5, 16), joint_names=list(SPEC.joint_names),
                            score=-0.003 * k, contact_distance_m=0.003 * k, penetration_m=0.0))
    return grasps


def _msgs(grasps, frame="camera_depth_optical_frame"):
    return [grasp_to_msg(g, f"goal/{k}", "leap", frame, Time(), PALM_NORMAL, np.array(SPEC.pregrasp_joints))
            for k, g in enumerate(grasps)]


def test_messages_export_like_the_core_grasps():
    grasps = _grasps()
    from_msgs = isaac_grasps_from_msgs(_msgs(grasps))
    direct = isaac_grasps_from_generator(grasps, "leap", "camera_depth_optical_frame")
    assert (from_msgs.object_frame, from_msgs.gripper_frame) == (direct.object_frame, direct.gripper_frame)
    assert [g.name for g in from_msgs.grasps] == ["goal/0", "goal/1", "goal/2"]
    for a, b in zip(from_msgs.grasps, direct.grasps):
        np.testing.assert_allclose(a.matrix, b.matrix, atol=1e-12)
        assert a.cspace_position == b.cspace_position
        assert a.pregrasp_cspace_position == b.pregrasp_cspace_position
        assert a.confidence == pytest.approx(b.confidence)


def test_mixed_frames_are_refused():
    grasps = _grasps()
    with pytest.raises(IsaacGraspError, match="one hand on one object frame"):
        isaac_grasps_from_msgs(_msgs(grasps[:2], "a") + _msgs(grasps[2:], "b"))


def test_moveit_fields_use_the_messages_approach():
    grasp = _grasps()[1]
    fields = moveit_grasp_fields_from_msg(_msgs([grasp])[0])
    np.testing.assert_allclose(fields.pre_grasp_approach.direction, grasp.matrix[:3, :3] @ PALM_NORMAL, atol=1e-12)
    assert fields.pre_grasp_approach.desired_distance_m == PREGRASP_DISTANCE_M
    assert fields.frame_id == "camera_depth_optical_frame"
    assert fields.grasp_posture.positions == pytest.approx(tuple(grasp.joint_positions))
