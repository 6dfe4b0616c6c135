"""Training configs: the YAML files, overrides, and clear errors."""

import pytest
from conftest import REPO, TINY_CONFIG
from flash_training.train.config import TrainConfig, config_from_dict, config_to_dict, load_config


def test_default_yaml_spells_out_the_dataclass_defaults():
    assert load_config(REPO / "training" / "configs" / "default.yaml") == TrainConfig()


def test_yaml_then_overrides_and_a_round_trip_through_dicts():
    config = load_config(TINY_CONFIG, ["optim.lr=2e-3", "model.use_live_hand=false", "data.batch_size=4"])
    assert config.optim.lr == 0.002 and not config.model.use_live_hand and config.data.batch_size == 4
    assert config.model.text.kind == "scratch" and config.model.llm_training == "full"
    assert config.model.object.levels[0].num_centroids == 64  # a list of mappings became SetAbstractionSpecs
    assert config_from_dict(TrainConfig, config_to_dict(config)) == config


def test_bad_configs_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['optim.learning_rate'\]"):
        load_config(None, ["optim.learning_rate=1"])
    with pytest.raises(ValueError, match="data.batch_size must be int"):
        load_config(None, ["data.batch_size=lots"])
    with pytest.raises(ValueError, match="must look like"):
        load_config(None, ["steps"])
    with pytest.raises(ValueError, match="unknown fusion"):
        load_config(None, ["model.fusion=mixer"])
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(tmp_path / "list.yaml")
