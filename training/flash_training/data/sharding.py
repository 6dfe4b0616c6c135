"""Builds split by objects: one part per process or machine, or every part as a Ray task, then one merged data set.

    flash dataset build --preset default --out parts/0 --shard 0/2     # on one machine (or process)
    flash dataset build --preset default --out parts/1 --shard 1/2     # on another
    flash dataset merge --out data/flash-drive parts/0 parts/1
    flash dataset build --preset default --out data/flash-drive --ray 2  # the same, as Ray tasks

Part i of n builds every n-th object of the preset's list, starting at the i-th (`DatasetBuilder(part=(i, n))`),
so each part gets a share of every source and category, and the parts together hold exactly the objects, grasps,
splits and text of an unsplit build (every seed is per object or per unit). Each part is an ordinary resumable
data set folder marked with its part; `storage.merge_parts` joins a complete set. With `--ray`, the parts live in
`<out>/parts/<i>-of-<n>/` and are merged into `<out>`; on a cluster `<out>` must be storage every node sees.
"""

from __future__ import annotations

from pathlib import Path

from flash_core.utils.require import require_package
from flash_training.data.build import BuildConfig, build_dataset
from flash_training.data.storage import merge_parts


def parse_part(text: str) -> tuple[int, int]:
    """Part "i/n" -> (i, n), with 0 <= i < n."""
    index, slash, count = text.partition("/")
    if not (slash and index.strip().isdigit() and count.strip().isdigit()) or not 0 <= int(index) < int(count):
        raise ValueError(f"a build part is written i/n with 0 <= i < n (e.g. 0/4), got {text!r}")
    return int(index), int(count)


def part_folders(out: str | Path, count: int) -> list[Path]:
    """Where `build_with_ray` puts the `count` parts of a build into `out`."""
    return [Path(out) / "parts" / f"{i}-of-{count}" for i in range(count)]


def _build_part(out: str, config: BuildConfig, device: str, resume: bool, part: tuple[int, int], threads: int) -> str:
    """One part, in a Ray worker: torch gets the threads the task reserved."""
    import torch

    torch.set_num_threads(threads)
    return str(build_dataset(out, config, device=device, resume=resume, part=part))


def build_with_ray(
    out: str | Path,
    config: BuildConfig,
    parts: int,
    device: str = "cpu",
    resume: bool = False,
    address: str | None = None,
    cpus_per_part: int = 1,
) -> Path:
    """Build `parts` parts of a data set as Ray tasks, merge them into `out` and write its report; returns the
    report's path. Uses the running Ray session, else `ray.init(address)` (None: a local one on this machine's
    cores). CUDA devices reserve one GPU per part."""
    from flash_training.data.import_report import write_build_report

    if parts < 1 or cpus_per_part < 1:
        raise ValueError(f"need at least one part and one CPU per part, got {parts} parts, {cpus_per_part} CPUs")
    out = Path(out)
    folders = part_folders(out, parts)
    if not resume and ((out / "manifest.json").exists() or any((f / "manifest.json").exists() for f in folders)):
        raise FileExistsError(f"{out} already holds a data set or its parts; pass --resume to continue it")
    if (out / "manifest.json").exists():  # resumed after the merge: nothing left to build
        return write_build_report(out)
    ray = require_package("ray", feature="builds spread over Ray", install_hint="pip install ray==2.60.0")
    if not ray.is_initialized():
        ray.init(address=address)
    gpus = 1 if device.startswith("cuda") else 0
    task = ray.remote(num_cpus=cpus_per_part, num_gpus=gpus)(_build_part)
    # A part of a resumed build may never have started: resume only the ones with a manifest.
    pending = [
        task.remote(str(f), config, device, (f / "manifest.json").exists(), (i, parts), cpus_per_part)
        for i, f in enumerate(folders)
    ]
    ray.get(pending)
    merge_parts(folders, out)
    return write_build_report(out)

