"""Robot models fetched from package registries at setup time (see `flash_core.assets.sources`)."""

from flash_core.assets.fetch import AssetsMissingError, asset_dir, fetch_all, fetch_source
from flash_core.assets.sources import SOURCES, AssetSource

__all__ = ["AssetSource", "AssetsMissingError", "SOURCES", "asset_dir", "fetch_all", "fetch_source"]
