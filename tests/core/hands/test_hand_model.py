"""HandModel behaviour: API shapes, limits, contacts, self-penetration, gradients, errors, primitives fallback."""

import logging

import pytest
import torch

import flash_core.assets
from flash_core.assets import AssetsMissingError
from flash_core.hands import factory, known_hands, make_hand
from flash_core.hands.mjcf import load_source
from flash_core.hands.pose import FINGER_JOINT_INDICES
from flash_core.hands.primitives import make_primitives_xml
from flash_core.hands.spec import read_data_text

# Configurations that cross the index over the middle finger (found with the models' FK: LEAP "0" > 0 turns the
# index towards the middle finger; the Allegro's joint_0.0 twists the finger, so it must be flexed to cross).
CROSSED = {
    "leap": {0: 0.5, 4: -0.5},
    "allegro": {0: -0.47, 4: 0.47, 1: 0.8, 5: 0.8},
}


def test_api_shapes_and_names(hand64):
    hand = hand64
    assert hand.dof == 16 and hand.pose_dim == 25 and len(hand.joint_names) == 16
    assert hand.joint_lower.shape == hand.joint_upper.shape == (16,)
    assert hand.dtype == torch.float64 and hand.device == torch.device("cpu")
    assert hand.source.startswith("mjcf:")
    x = hand.open_pose(3)
    assert x.shape == (3, 25)
    num_links = len(hand.link_names)
    assert hand.forward_kinematics(x[:, 9:]).shape == (3, num_links, 4, 4)
    assert hand.link_poses(x).shape == (3, num_links, 4, 4)
    assert hand.surface_points(x).shape == (3, 1024, 3)
    assert hand.surface_point_link_index.shape == (1024,)
    candidates = hand.contact_candidates(x)
    assert candidates.shape == (3, len(hand.contact_finger_index), 3)
    assert sorted(set(hand.contact_finger_index.tolist())) == list(range(len(hand.finger_names)))
    assert hand.self_penetration(x).shape == (3,)
    assert hand.to("cpu") is hand


def test_official_joint_order_and_limits():
    leap = factory.load_spec("leap")
    assert leap.joint_names == tuple(str(i) for i in range(16))
    # Chain order per finger is "1" (MCP flexion) -> "0" (abduction): Menagerie's if_mcp is the first joint.
    assert leap.model_joint_names[:2] == ("if_rot", "if_mcp")
    # Official limits, not Menagerie's, on the two thumb joints where they differ.
    assert leap.joint_limits[13] == (-0.47, 2.443) and leap.joint_limits[14] == (-1.20, 1.90)
    allegro = factory.load_spec("allegro")
    assert allegro.joint_names[0] == "joint_0.0" and allegro.joint_names[15] == "joint_15.0"


def test_yaml_limits_match_mjcf_except_documented_leap_thumb(hand64):
    import mujoco

    from flash_core.hands.mjcf import compile_model

    model = compile_model(load_source(hand64.spec, primitives=False).xml)
    differing = []
    for k, joint in enumerate(hand64.model_joint_names):
        lower, upper = model.joint(joint).range
        if abs(lower - hand64.joint_lower[k]) > 1e-9 or abs(upper - hand64.joint_upper[k]) > 1e-9:
            differing.append(hand64.joint_names[k])
    assert differing == (["13", "14"] if hand64.name == "leap" else [])
    assert int(model.jnt_type[0]) == int(mujoco.mjtJoint.mjJNT_FREE)


def test_open_and_pregrasp_within_limits_and_free_of_self_penetration(hand64):
    for q in (hand64.open_pose(1)[0, 9:], hand64.pregrasp_joints()):
        assert ((q >= hand64.joint_lower) & (q <= hand64.joint_upper)).all()
        x = hand64.open_pose(1)
        x[:, 9:] = q
        assert hand64.self_penetration(x).item() < 1e-9
    torch.testing.assert_close(hand64.open_pose(1)[0, 9:], hand64.open_joints())


def test_self_penetration_positive_for_crossed_fingers_and_differentiable(hand64):
    x = hand64.open_pose(1)
    for joint, angle in CROSSED[hand64.name].items():
        x[0, 9 + joint] = angle
    x.requires_grad_()
    penetration = hand64.self_penetration(x)
    assert penetration.item() > 1e-3
    penetration.sum().backward()
    assert x.grad[0, 9:].abs().sum() > 0
    # Moving rigidly does not change self-penetration.
    moved = x.detach().clone()
    moved[:, :3] += torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    moved[:, 3:9] = torch.tensor([0.0, 1, 0, -1, 0, 0], dtype=torch.float64)
    torch.testing.assert_close(hand64.self_penetration(moved), penetration.detach())


def test_clamp_joints(hand64):
    q = torch.stack([hand64.joint_lower - 1, hand64.joint_upper + 1, (hand64.joint_lower + hand64.joint_upper) / 2])
    clamped = hand64.clamp_joints(q)
    torch.testing.assert_close(clamped[0], hand64.joint_lower)
    torch.testing.assert_close(clamped[1], hand64.joint_upper)
    torch.testing.assert_close(clamped[2], q[2])


def test_contact_candidates_sit_on_their_fingers(hand64):
    spec = hand64.spec
    x = hand64.open_pose(1)
    candidates = hand64.contact_candidates(x)[0]
    poses = hand64.link_poses(x)[0]
    for finger_id, finger in enumerate(hand64.finger_names):
        mine = hand64.contact_finger_index == finger_id
        assert mine.sum() == spec.contact_points_per_finger
        links = {hand64.link_names[i] for i in hand64.contact_link_index[mine].tolist()}
        assert links <= set(spec.contact_fingers[finger].links)
        # The fingertip candidate reaches farther from the first contact joint than any other point of the finger.
        base = poses[hand64.link_names.index(spec.contact_fingers[finger].links[0]), :3, 3]
        finger_surface = torch.isin(hand64.surface_point_link_index, torch.tensor(
            [hand64.link_names.index(n) for n in spec.contact_fingers[finger].links]))
        surface_reach = (hand64.surface_points(x)[0, finger_surface] - base).norm(dim=-1).max()
        candidate_reach = (candidates[mine] - base).norm(dim=-1).max()
        assert candidate_reach >= surface_reach - 1e-3
        # Pads face the way the finger closes: flexing its last joint moves the finger towards the candidates.
        flexed = x.clone()
        flexed[0, 9 + FINGER_JOINT_INDICES[finger][-1]] += 0.3
        surface = hand64.surface_points(x)[0, finger_surface]
        closing = (hand64.surface_points(flexed)[0, finger_surface] - surface).mean(0)
        assert ((candidates[mine] - surface.mean(0)) @ (closing / closing.norm())).mean() > 3e-3


def test_gradcheck_float64(hand64):
    # torch's fast (random-projection) mode keeps this a second, not a minute.
    hand = hand64
    generator = torch.Generator().manual_seed(3)
    x = hand.open_pose(2).clone()
    x[:, 9:] = hand.joint_lower + 0.3 * (hand.joint_upper - hand.joint_lower)
    x = (x + 0.05 * torch.randn(x.shape, generator=generator, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(hand.surface_points, (x,), atol=1e-6, fast_mode=True)
    assert torch.autograd.gradcheck(hand.contact_candidates, (x,), atol=1e-6, fast_mode=True)
    q = x.detach()[:, 9:].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: hand.forward_kinematics(v)[:, :, :3], (q,), atol=1e-6, fast_mode=True)


def _corrupt(x, how):
    if how == "short":
        return x[:, :24]
    if how == "unbatched":
        return x[0]
    if how == "integer":
        return x.long()
    if how == "nan":
        x[1, 12] = float("nan")
    elif how == "inf":
        x[0, 0] = float("inf")
    elif how == "zero rotation":
        x[:, 3:6] = 0
    elif how == "parallel columns":
        x[:, 6:9] = 2 * x[:, 3:6]
    return x


@pytest.mark.parametrize("how, message", [
    ("short", "shape"), ("unbatched", "shape"), ("integer", "floating"), ("nan", "NaN"), ("inf", "inf"),
    ("zero rotation", "rot6d"), ("parallel columns", "parallel"),
])
def test_bad_poses_raise_clear_errors(how, message):
    hand = make_hand("leap", allow_primitives=True)
    bad = _corrupt(hand.open_pose(2), how)
    for method in (hand.surface_points, hand.link_poses, hand.contact_candidates, hand.self_penetration,
                   hand.validate_pose):
        with pytest.raises(ValueError, match=message):
            method(bad)


def test_bad_joints_raise_clear_errors():
    hand = make_hand("leap", allow_primitives=True)
    with pytest.raises(ValueError, match="joint angles"):
        hand.forward_kinematics(torch.zeros(2, 15))
    with pytest.raises(ValueError, match="NaN"):
        hand.forward_kinematics(torch.full((2, 16), float("nan")))
    with pytest.raises(ValueError, match="float64.*float32"):
        hand.forward_kinematics(torch.zeros(2, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="float64.*float32"):
        hand.surface_points(hand.open_pose(2).double())


def test_unknown_hand_lists_known_ones():
    with pytest.raises(KeyError, match="allegro.*leap"):
        make_hand("shadow")
    assert known_hands() == ["allegro", "leap"]


@pytest.mark.parametrize("name", ["leap", "allegro"])
def test_missing_assets_raise_or_fall_back_to_primitives_loudly(name, monkeypatch, caplog):
    def missing(asset):
        raise AssetsMissingError(f"{asset} not fetched (test)")

    monkeypatch.setattr(flash_core.assets, "asset_dir", missing)
    factory._geometry.cache_clear()
    try:
        with pytest.raises(AssetsMissingError):
            make_hand(name, num_surface_points=256)
        with caplog.at_level(logging.WARNING):
            hand = make_hand(name, num_surface_points=256, allow_primitives=True, dtype=torch.float64)
    finally:
        factory._geometry.cache_clear()
    assert hand.source == "primitives"
    assert "primitives" in caplog.text and name in caplog.text
    x = hand.open_pose(2)
    assert hand.surface_points(x).shape == (2, 256, 3)
    assert hand.self_penetration(x).max() < 1e-9


def test_primitives_have_the_official_kinematics_and_are_up_to_date(hand64):
    primitive_hand = factory.build_hand(hand64.name, primitives=True, dtype=torch.float64)
    assert primitive_hand.source == "primitives"
    q = hand64.joint_lower + torch.rand(8, 16, dtype=torch.float64) * (hand64.joint_upper - hand64.joint_lower)
    torch.testing.assert_close(primitive_hand.forward_kinematics(q), hand64.forward_kinematics(q))
    regenerated = make_primitives_xml(hand64.spec, load_source(hand64.spec, primitives=False).xml)
    assert regenerated == read_data_text(hand64.spec.primitives_xml), "run python -m flash_core.hands.primitives"


def test_float32_and_device_copy():
    hand = make_hand("allegro", allow_primitives=True)
    assert hand.dtype == torch.float32
    points = hand.surface_points(hand.open_pose(4))
    assert points.dtype == torch.float32 and torch.isfinite(points).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(hand64):
    x = hand64.open_pose(4)
    x[:, 9:] = hand64.pregrasp_joints()
    cuda_hand = hand64.to("cuda")
    assert cuda_hand is not hand64 and cuda_hand.device.type == "cuda"
    torch.testing.assert_close(cuda_hand.surface_points(x.cuda()).cpu(), hand64.surface_points(x))
    torch.testing.assert_close(cuda_hand.self_penetration(x.cuda()).cpu(), hand64.self_penetration(x))


def test_allegro_root_is_the_urdf_base_link_used_by_dexgraspnet(hand64):
    """Finger joint origins at the Allegro URDF's numbers (reference-facts): no frame offset to DexGraspNet."""
    if hand64.name != "allegro":
        pytest.skip("Allegro-specific")
    poses = hand64.forward_kinematics(torch.zeros(1, 16, dtype=torch.float64))[0]
    urdf_origins = {"ff_base": (0, 0.0435, -0.001542), "mf_base": (0, 0, 0.0007),
                    "rf_base": (0, -0.0435, -0.001542), "th_base": (-0.0182, 0.019333, -0.045987)}
    for link, origin in urdf_origins.items():
        torch.testing.assert_close(poses[hand64.link_names.index(link), :3, 3],
                                   torch.tensor(origin, dtype=torch.float64), atol=1e-6, rtol=0)
    # Index base rolled -5 degrees about x.
    roll = poses[hand64.link_names.index("ff_base"), :3, :3]
    assert abs(torch.atan2(roll[2, 1], roll[1, 1]).item() - (-5 * torch.pi / 180)) < 1e-4


def test_palm_frame_faces_where_the_fingers_close(hand64):
    palm = hand64.palm_frame()
    assert palm.normal.norm().item() == pytest.approx(1.0)
    open_pose = hand64.open_pose(1)
    tips = hand64.contact_candidates(open_pose)[0]
    long_fingers = [i for i, name in enumerate(hand64.finger_names) if name != "thumb"]
    tip_mask = torch.isin(hand64.contact_finger_index, torch.tensor(long_fingers))
    palm_centre = hand64.surface_points(open_pose)[0].mean(0)
    # Straight open fingers point along the palm plane, so the normal is perpendicular to them.
    finger_axis = torch.nn.functional.normalize(tips[tip_mask].mean(0) - palm_centre, dim=0)
    assert abs(float(finger_axis @ palm.normal)) < 0.3
    # A closed fist ends up on the normal's side of the open hand.
    fist = open_pose.clone()
    fist[:, 9:] = hand64.clamp_joints(hand64.pregrasp_joints() * 4)
    fist_tips = hand64.contact_candidates(fist)[0][tip_mask].mean(0)
    assert float((fist_tips - palm_centre) @ palm.normal) > 0.02
