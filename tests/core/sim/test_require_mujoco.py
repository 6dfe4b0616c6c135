"""The one MuJoCo loader: the module when installed, a clear error naming the pinned release when not."""

import sys

import pytest

from flash_core.sim import require_mujoco
from flash_core.utils.require import MissingDependencyError


def test_a_missing_mujoco_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco", None)  # import mujoco now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"MuJoCo simulation .*pip install mujoco==4\.0\.0"):
        require_mujoco()


def test_an_installed_mujoco_is_returned():
    mujoco = pytest.importorskip("mujoco")
    assert require_mujoco() is mujoco
