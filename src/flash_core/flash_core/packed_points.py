"""Checks on a packed point record layout (the binary layout of sensor_msgs/PointCloud2), before any byte is read.

A cloud is `height` rows of `width` records; each record is `point_step` bytes and holds named fields at byte
offsets; a row is `row_step` bytes (at least width * point_step; the rest is padding); the data is exactly
height * row_step bytes. Any layout that breaks one of these is refused with a message naming the broken rule,
so a reader never indexes past a record or a buffer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class PointLayoutError(ValueError):
    """A point record layout that cannot be read, with the rule it breaks."""


@dataclass(frozen=True)
class PackedField:
    name: str
    offset: int  # bytes from the start of a record
    size_bytes: int  # size of one element
    count: int  # elements


def check_packed_layout(fields: Iterable[PackedField], *, point_step: int, width: int, height: int, row_step: int,
                        data_bytes: int, scalar_fields: Iterable[str] = ()) -> None:
    """Raise PointLayoutError unless records of `fields` can be read from `data_bytes` bytes.

    scalar_fields: names that must hold exactly one element where present (coordinates, normals).
    """
    fields = list(fields)
    seen: set[str] = set()
    for f in fields:
        if f.name in seen:
            raise PointLayoutError(f"field {f.name!r} appears more than once")
        seen.add(f.name)
        if f.offset < 0 or f.count < 0:
            raise PointLayoutError(f"field {f.name!r} has offset {f.offset} and count {f.count}; both must be >= 0")
        end = f.offset + f.size_bytes * f.count
        if end > point_step:
            raise PointLayoutError(f"field {f.name!r} (offset {f.offset}, {f.count} x {f.size_bytes} bytes) ends at "
                                   f"byte {end}, past point_step {point_step}")
    for name in scalar_fields:
        counts = [f.count for f in fields if f.name == name]
        if counts and counts[0] != 1:
            raise PointLayoutError(f"field {name!r} must hold one element per point, it holds {counts[0]}")
    if width < 0 or height < 0:
        raise PointLayoutError(f"width {width} and height {height} must be >= 0")
    if width * height == 0:
        return
    if point_step <= 0:
        raise PointLayoutError(f"point_step is {point_step}; a record needs at least one byte")
    if row_step < width * point_step:
        raise PointLayoutError(f"row_step {row_step} is shorter than a row of {width} points x point_step "
                               f"{point_step} = {width * point_step} bytes")
    if data_bytes != height * row_step:
        raise PointLayoutError(f"point cloud data holds {data_bytes} bytes, its header promises height {height} x "
                               f"row_step {row_step} = {height * row_step}")
