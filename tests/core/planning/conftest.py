"""Shared fixtures for the planning tests."""

import pytest

from flash_core.assets import AssetsMissingError, asset_dir
from flash_core.planning import RobotModel


def _require_assets() -> None:
    try:
        asset_dir("gen3"), asset_dir("leap")
    except AssetsMissingError as exc:  # CI fetches them in setup; say how when run elsewhere
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def robot() -> RobotModel:
    _require_assets()
    return RobotModel()

