"""Object sources for FLASH-Drive, each with its licence: procedural part-labelled objects, YCB, pybullet's
random objects, user meshes."""

from __future__ import annotations

from typing import Any

from flash_training.data.objects.base import ObjectAsset, ObjectSource
from flash_training.data.objects.procedural import ProceduralSource
from flash_training.data.objects.pybullet_random import PybulletRandomSource
from flash_training.data.objects.user_mesh import UserMeshSource
from flash_training.data.objects.ycb import YcbSource

OBJECT_SOURCES: dict[str, type] = {
    "procedural": ProceduralSource,
    "ycb": YcbSource,
    "pybullet_random": PybulletRandomSource,
    "user": UserMeshSource,
}


def make_object_source(kind: str, **options: Any) -> ObjectSource:
    """Build a source by name, e.g. make_object_source("procedural", count_per_category=4)."""
    if kind not in OBJECT_SOURCES:
        raise KeyError(f"unknown object source '{kind}'; known: {sorted(OBJECT_SOURCES)}")
    return OBJECT_SOURCES[kind](**options)


__all__ = [
    "OBJECT_SOURCES",
    "ObjectAsset",
    "ObjectSource",
    "ProceduralSource",
    "PybulletRandomSource",
    "UserMeshSource",
    "YcbSource",
    "make_object_source",
]
