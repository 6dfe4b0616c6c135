"""Checkpoint round trip and mismatch errors; GraspGenerator outputs and input checks."""

import json

import numpy as np
import pytest
import torch
from tiny_models import PROMPTS, build_model, randomise_head, sphere_cloud, tiny_config

from flash_core.flow.initial_state import InitialStateConfig
from flash_core.flow.path import FlowPath
from flash_core.flow.solver import SamplingCancelled, SolverConfig
from flash_core.generator import GraspGenerator
from flash_core.hands import make_hand
from flash_core.model.checkpoint import CONFIG_FILE, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def saved(leap_hand, tmp_path_factory):
    model = randomise_head(build_model(tiny_config("llm_backbone"), leap_hand)).eval()
    directory = save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "flash", leap_hand)
    return model, directory


def test_round_trip_gives_the_same_grasps(saved, leap_hand):
    model, directory = saved
    loaded = load_checkpoint(directory, leap_hand)
    cloud = sphere_cloud(400).numpy()
    solver = SolverConfig(method="euler", steps=2)
    before = GraspGenerator(model, leap_hand, solver).generate(PROMPTS[0], cloud, num_grasps=4, seed=3)
    after = GraspGenerator.from_checkpoint(directory, hand=leap_hand, solver=solver).generate(
        PROMPTS[0], cloud, num_grasps=4, seed=3)
    assert [g.score for g in before] == pytest.approx([g.score for g in after], abs=1e-6)
    np.testing.assert_allclose(before[0].vector, after[0].vector, atol=1e-6)
    assert loaded.text_source == model.text_source


def test_generator_samples_from_the_initial_state_the_checkpoint_records(saved, leap_hand, tmp_path):
    model, _ = saved
    trained_from = InitialStateConfig(radius_m=0.3, joint_jitter_rad=0.2)
    directory = save_checkpoint(model, tmp_path / "wide", leap_hand, initial_state=trained_from)
    generator = GraspGenerator.from_checkpoint(directory, hand=leap_hand)
    assert generator.initial_states.config == trained_from
    x = generator.initial_states.sample(64, generator=torch.Generator().manual_seed(0))
    centre = leap_hand.surface_points(x).mean(1).norm(dim=-1)  # the open-ish hands' centres, about 0.3 m out
    assert abs(float(centre.mean()) - 0.3) < 0.03

    def forget(meta):  # a checkpoint written before the field existed
        del meta["initial_state"]

    old = _saved_with_edited_config(model, leap_hand, tmp_path / "old", forget)
    with pytest.raises(ValueError, match="initial_state"):
        GraspGenerator.from_checkpoint(old, hand=leap_hand)


def test_checkpoint_keeps_path_and_prediction_and_older_ones_load_as_straight_velocity_models(leap_hand, tmp_path):
    config = tiny_config("compact", path=FlowPath(wrist_end_t=0.75, joints_start_t=0.75), prediction="grasp")
    model = build_model(config, leap_hand)
    directory = save_checkpoint(model, tmp_path / "wrist_first", leap_hand)
    loaded = load_checkpoint(directory, leap_hand).config
    assert (loaded.path, loaded.prediction) == (FlowPath(0.75, 0.75), "grasp")

    def forget(meta):  # written before the options: the straight line, the velocity read
        del meta["model"]["path"], meta["model"]["prediction"]

    old = load_checkpoint(_saved_with_edited_config(model, leap_hand, tmp_path / "old", forget), leap_hand).config
    assert (old.path, old.prediction) == (FlowPath(), "velocity")


def test_checkpoint_of_another_hand_is_refused(saved):
    _, directory = saved
    allegro = make_hand("allegro", num_surface_points=128, allow_primitives=True)
    with pytest.raises(ValueError, match="trained for hand 'leap'"):
        load_checkpoint(directory, allegro)


def _saved_with_edited_config(model, hand, directory, edit):
    """A checkpoint of `model` in `directory` whose config JSON went through edit(meta) (in place)."""
    directory = save_checkpoint(model, directory, hand)
    meta = json.loads((directory / CONFIG_FILE).read_text())
    edit(meta)
    (directory / CONFIG_FILE).write_text(json.dumps(meta))
    return directory


def test_checkpoint_of_another_backbone_is_refused(saved, leap_hand, tmp_path):
    model, _ = saved

    def other_tokenizer(meta):  # as if trained with another tokenizer
        meta["backbone"]["tokenizer_sha256"] = "0" * 64

    directory = _saved_with_edited_config(model, leap_hand, tmp_path / "other", other_tokenizer)
    with pytest.raises(ValueError, match="text backbone"):
        load_checkpoint(directory, leap_hand)


def test_checkpoint_whose_backbone_is_missing_says_so(saved, leap_hand, tmp_path):
    model, _ = saved

    def missing_local_backbone(meta):
        meta["model"]["text"].update(kind="local", path=str(tmp_path / "no-such-llm"))
        meta["model"]["llm_training"] = "frozen"

    directory = _saved_with_edited_config(model, leap_hand, tmp_path / "local", missing_local_backbone)
    with pytest.raises(FileNotFoundError, match="needs its text backbone"):
        load_checkpoint(directory, leap_hand)
    with pytest.raises(FileNotFoundError, match="not a FLASH checkpoint"):
        load_checkpoint(tmp_path, leap_hand)


def test_generated_grasps_are_valid_ranked_and_in_the_input_frame(saved, leap_hand):
    model, _ = saved
    generator = GraspGenerator(model, leap_hand, SolverConfig(method="euler", steps=2))
    shift = np.array([0.5, -0.2, 0.8], dtype=np.float32)
    cloud = sphere_cloud(400).numpy()
    here = generator.generate(PROMPTS[1], cloud, num_grasps=5, seed=0)
    moved = generator.generate(PROMPTS[1], cloud + shift, num_grasps=5, seed=0, hand="leap")
    assert [g.score for g in here] == sorted([g.score for g in here], reverse=True)
    np.testing.assert_allclose(moved[0].translation_m, here[0].translation_m + shift, atol=1e-5)
    for grasp in here:
        rotation = grasp.matrix[:3, :3]
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-5)
        np.testing.assert_allclose(grasp.rot6d, np.concatenate((rotation[:, 0], rotation[:, 1])), atol=1e-6)
        assert np.all(grasp.joint_positions >= leap_hand.joint_lower.numpy() - 1e-6)
        assert np.all(grasp.joint_positions <= leap_hand.joint_upper.numpy() + 1e-6)
        assert grasp.joint_names == leap_hand.joint_names and grasp.score <= 0
        assert set(grasp.contact_fingers) <= set(leap_hand.finger_names)


def test_ranking_scores_a_penetrating_hand_below_a_touching_one(saved, leap_hand):
    """Penetration from the object cloud: a hand whose palm sits at the sphere's centre penetrates by about the
    radius; the same hand 10 cm away does not penetrate at all."""
    model, _ = saved
    generator = GraspGenerator(model, leap_hand)
    cloud = sphere_cloud(2000, radius_m=0.04)
    inside = leap_hand.open_pose(1)
    inside[0, :3] = -generator.initial_states.palm_centre
    outside = inside.clone()
    outside[0, 2] += 0.15
    grasps = generator._rank(torch.cat((outside, inside)), cloud, torch.zeros(3), None)
    assert grasps[0].penetration_m == 0.0 and grasps[1].penetration_m > 0.02
    assert grasps[0].score > grasps[1].score


def test_bad_inputs_raise_clear_errors(saved, leap_hand):
    model, _ = saved
    generator = GraspGenerator(model, leap_hand, SolverConfig(method="euler", steps=4))
    cloud = sphere_cloud(300).numpy()
    with pytest.raises(ValueError, match="non-empty"):
        generator.generate("  ", cloud)
    with pytest.raises(ValueError, match="empty"):
        generator.generate(PROMPTS[0], np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        generator.generate(PROMPTS[0], np.full((300, 3), np.nan))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        generator.generate(PROMPTS[0], np.zeros((300, 2)))
    with pytest.raises(ValueError, match="not 'allegro'"):
        generator.generate(PROMPTS[0], cloud, hand="allegro")
    with pytest.raises(KeyError, match="unknown hand"):
        make_hand("shadow")
    with pytest.raises(SamplingCancelled):
        generator.generate(PROMPTS[0], cloud, num_grasps=2, should_continue=lambda t, nfe: nfe < 2)


def test_semantic_model_takes_per_point_features_and_normals_through_the_generator(leap_hand):
    model = randomise_head(build_model(tiny_config("compact", semantic_dim=8), leap_hand)).eval()
    generator = GraspGenerator(model, leap_hand, SolverConfig(method="euler", steps=2))
    cloud = sphere_cloud(400)
    features = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    normals = torch.nn.functional.normalize(cloud, dim=-1)
    grasps = generator.generate(PROMPTS[0], cloud, object_features=features, object_normals=normals,
                                num_grasps=2, seed=0)
    other = generator.generate(PROMPTS[0], cloud, object_features=-features, object_normals=normals,
                               num_grasps=2, seed=0)
    assert not np.allclose(grasps[0].vector, other[0].vector)  # the features reach the network
    with pytest.raises(ValueError, match="semantic features"):
        generator.generate(PROMPTS[0], cloud)
