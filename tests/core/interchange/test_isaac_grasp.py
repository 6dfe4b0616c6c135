"""isaac_grasp YAML: FLASH grasps out and back (round trip), the spec's layout, and clear errors on bad files."""

import copy
import math

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from flash_core.generator import Grasp
from flash_core.geometry.rigid import invert_transform
from flash_core.hands.spec import load_spec
from flash_core.interchange.isaac_grasp import (
    IsaacGraspError,
    isaac_grasps_from_generator,
    parse_isaac_grasps,
    read_isaac_grasps,
    score_to_confidence,
    to_yaml,
    write_isaac_grasps,
)

SPEC = load_spec("leap")

# The example of NVIDIA's specification (Isaac ROS "Isaac Grasp File"), a Panda gripper on a mug.
NVIDIA_EXAMPLE = """
format: isaac_grasp
format_version: 1.0
object_frame: /World/mug
gripper_frame: /World/panda_hand
grasps:
  "grasp_0":
    confidence: 1.0
    position: [-0.04346, 0.06759, 0.19895]
    orientation: {w: 0.00332, xyz: [0.98453, 0.16837, 0.04837]}
    cspace_position:
      panda_finger_joint1: 0.00943
    pregrasp_cspace_position:
      panda_finger_joint1: 0.04
"""


def _generator_grasps(count: int, seed: int, joint_names=SPEC.joint_names) -> list[Grasp]:
    """Real generator result records: random wrist poses, joints within the LEAP limits, scores <= 0."""
    rng = np.random.default_rng(seed)
    limits = np.array(SPEC.joint_limits)
    grasps = []
    for k in range(count):
        matrix = np.eye(4)
        matrix[:3, :3] = Rotation.random(random_state=seed + k).as_matrix()
        matrix[:3, 3] = rng.uniform(-0.2, 0.2, 3)
        q_flash = rng.uniform(limits[:, 0], limits[:, 1])
        q = np.array([q_flash[SPEC.joint_names.index(j)] for j in joint_names])
        xyzw = Rotation.from_matrix(matrix[:3, :3]).as_quat()
        grasps.append(Grasp(translation_m=matrix[:3, 3].copy(), rot6d=matrix[:3, :2].T.ravel(), matrix=matrix,
                            quaternion_wxyz=np.roll(xyzw, 1), joint_positions=q, joint_names=list(joint_names),
                            score=-0.004 * k, contact_distance_m=0.004 * k, penetration_m=0.0))
    grasps[0].matrix[:3, 3] = (1e-5, -2.5e-7, 0.0)  # tiny numbers: written in exponent notation
    return grasps


def test_generator_grasps_round_trip_through_the_file(tmp_path):
    grasps = _generator_grasps(5, seed=3)
    object_from_cloud = np.eye(4)
    object_from_cloud[:3, :3] = Rotation.from_euler("z", 30, degrees=True).as_matrix()
    object_from_cloud[:3, 3] = (0.1, -0.05, 0.02)
    exported = isaac_grasps_from_generator(grasps, "leap", "mug", object_from_cloud=object_from_cloud)
    back = read_isaac_grasps(write_isaac_grasps(tmp_path / "mug.yaml", exported), "leap")

    assert (back.hand, back.object_frame, back.gripper_frame) == ("leap", "mug", SPEC.root_body)
    assert [g.name for g in back.grasps] == [f"grasp_{k}" for k in range(5)]
    for grasp, read in zip(grasps, back.grasps):
        np.testing.assert_allclose(read.matrix, object_from_cloud @ grasp.matrix, atol=1e-12)
        np.testing.assert_array_equal(read.joint_positions(grasp.joint_names), grasp.joint_positions)
        np.testing.assert_array_equal(read.pregrasp_joint_positions(SPEC.joint_names), SPEC.pregrasp_joints)
        assert read.confidence == pytest.approx(math.exp(grasp.score / 0.01))
    confidences = [g.confidence for g in back.grasps]
    assert confidences[0] == 1.0 and confidences == sorted(confidences, reverse=True)  # best first, kept
    # The object frame's pose of the wrist is what the file stores: undoing the placement recovers the cloud frame.
    np.testing.assert_allclose(invert_transform(object_from_cloud) @ back.grasps[3].matrix, grasps[3].matrix,
                               atol=1e-12)


def test_joints_are_matched_by_name_not_position():
    shuffled = list(reversed(SPEC.joint_names))
    grasp = _generator_grasps(1, seed=0, joint_names=shuffled)[0]
    exported = isaac_grasps_from_generator([grasp], "leap", "obj").grasps[0]
    for name, q in zip(shuffled, grasp.joint_positions):
        assert exported.cspace_position[name] == q


def test_written_file_has_exactly_the_spec_layout():
    text = to_yaml(isaac_grasps_from_generator(_generator_grasps(2, seed=1), "leap", "/World/mug"))
    raw = yaml.safe_load(text)
    assert text.startswith("format: isaac_grasp\nformat_version: 1.0\n")
    assert set(raw) == {"format", "format_version", "object_frame", "gripper_frame", "grasps"}
    assert raw["format_version"] == 1.0 and raw["object_frame"] == "/World/mug"
    for entry in raw["grasps"].values():
        assert set(entry) == {"confidence", "position", "orientation", "cspace_position", "pregrasp_cspace_position"}
        assert set(entry["orientation"]) == {"w", "xyz"} and len(entry["orientation"]["xyz"]) == 3
        assert all(isinstance(v, float) for v in entry["position"])  # 1e-05 must not come back as a string
        assert list(entry["cspace_position"]) == list(SPEC.joint_names)  # string keys "0".."15", not integers


def test_reads_nvidia_example_up_to_its_panda_joint_names():
    with pytest.raises(IsaacGraspError, match=r"unknown joint names \['panda_finger_joint1'\] for hand 'leap'"):
        parse_isaac_grasps(yaml.safe_load(NVIDIA_EXAMPLE), "leap")


def _valid() -> dict:
    return yaml.safe_load(to_yaml(isaac_grasps_from_generator(_generator_grasps(2, seed=2), "leap", "mug")))


def _set(raw: dict, path: tuple, value) -> dict:
    target = raw
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "message"), [
    (("format",), "isaac_grasps", r"format/format_version: expected 'isaac_grasp' version 1.0, got 'isaac_grasps'"),
    (("format_version",), 2.0, r"got 'isaac_grasp' version 2.0"),
    (("format_version",), True, r"version True"),
    (("object_frame",), _DELETE, r"object_frame: expected a frame name"),
    (("grasps",), {}, r"grasps: expected a non-empty mapping"),
    (("grasps", "grasp_1", "position"), _DELETE, r"grasps.grasp_1: missing fields \['position'\]"),
    (("grasps", "grasp_1", "position"), [0.1, 0.2], r"grasps.grasp_1.position: expected a list of 3 numbers"),
    (("grasps", "grasp_0", "orientation"), {"w": 2.0, "xyz": [0.0, 0.0, 0.0]},
     r"grasps.grasp_0.orientation: not a unit quaternion \(norm 2"),
    (("grasps", "grasp_0", "orientation"), {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0},
     r"grasps.grasp_0.orientation.xyz: expected a list of 3 numbers"),
    (("grasps", "grasp_0", "confidence"), "high", r"grasps.grasp_0.confidence: expected a number"),
    (("grasps", "grasp_0", "cspace_position", "thumb_joint"), 0.1,
     r"grasps.grasp_0.cspace_position: unknown joint names \['thumb_joint'\] for hand 'leap'"),
    (("grasps", "grasp_0", "pregrasp_cspace_position", "7"), _DELETE,
     r"grasps.grasp_0.pregrasp_cspace_position: missing joints \['7'\]"),
    (("grasps", "grasp_0", "cspace_position", "3"), "0.1", r"cspace_position: angles must be numbers"),
    (("grasps", "grasp_0", "cspace_position", "3"), float("nan"), r"NaN or infinite angle for joints \['3'\]"),
])
def test_malformed_files_name_the_field(tmp_path, path, value, message):
    raw = _set(_valid(), path, copy.deepcopy(value) if value is not _DELETE else value)
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(raw))
    with pytest.raises(IsaacGraspError, match=message) as error:
        read_isaac_grasps(file, "leap")
    assert str(file) in str(error.value)


def test_not_yaml_and_unknown_hand(tmp_path):
    file = tmp_path / "broken.yaml"
    file.write_text("format: isaac_grasp\ngrasps: [unclosed\n")
    with pytest.raises(IsaacGraspError, match="is not valid YAML"):
        read_isaac_grasps(file, "leap")
    with pytest.raises(IsaacGraspError, match="unknown hand 'shadow'"):
        parse_isaac_grasps(_valid(), "shadow")


def test_hand_written_variants_are_read():
    raw = _valid()
    raw["object_frame_link"] = raw.pop("object_frame")  # the Isaac Sim grasp editor tutorial's spelling
    grasp = raw["grasps"]["grasp_0"]
    grasp["cspace_position"] = {int(k): v for k, v in grasp["cspace_position"].items()}  # unquoted 0: ... 15:
    grasp_set = parse_isaac_grasps(raw, "leap")
    assert grasp_set.object_frame == "mug"
    assert set(grasp_set.grasps[0].cspace_position) == set(SPEC.joint_names)


def test_score_to_confidence():
    assert score_to_confidence(0.0) == 1.0
    assert score_to_confidence(-0.01) == pytest.approx(math.exp(-1.0))
    assert 0.0 < score_to_confidence(-0.05) < score_to_confidence(-0.02) < 1.0
