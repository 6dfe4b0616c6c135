"""sensor_msgs/PointCloud2 <-> numpy, without sensor_msgs_py (not on PyPI).

Reads any layout (point_step, field offsets, endianness, organised or not) through a numpy structured
dtype, after flash_core.packed_points has checked it; drops non-finite points; fails with a message that names the
problem.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

from flash_core.packed_points import PackedField, PointLayoutError, check_packed_layout

_NUMPY_TYPES = {
    PointField.INT8: "i1", PointField.UINT8: "u1", PointField.INT16: "i2", PointField.UINT16: "u2",
    PointField.INT32: "i4", PointField.UINT32: "u4", PointField.FLOAT32: "f4", PointField.FLOAT64: "f8",
}


class CloudError(ValueError):
    """A point cloud that cannot be used, with the reason."""


class NoPointsError(CloudError):
    """A well-formed cloud without a single usable (finite) point."""


def _dtype(msg: PointCloud2) -> np.dtype:
    order = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for f in msg.fields:
        if f.datatype not in _NUMPY_TYPES:
            raise CloudError(f"field {f.name!r} has unknown PointField datatype {f.datatype}")
        names.append(f.name)
        base = order + _NUMPY_TYPES[f.datatype]
        formats.append(base if f.count == 1 else (base, (f.count,)))
        offsets.append(f.offset)
    layout = [PackedField(f.name, f.offset, np.dtype(_NUMPY_TYPES[f.datatype]).itemsize, f.count) for f in msg.fields]
    try:
        check_packed_layout(layout, point_step=msg.point_step, width=msg.width, height=msg.height,
                            row_step=msg.row_step, data_bytes=len(msg.data), scalar_fields=("x", "y", "z"))
    except PointLayoutError as exc:
        raise CloudError(str(exc)) from exc
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": msg.point_step})


def read_points(msg: PointCloud2, extra_fields: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Return {"xyz": (N, 3) float32, <extra field>: (N,) ...} for the finite points of `msg`.

    `extra_fields` that the cloud lacks are left out of the result (e.g. normals).
    """
    names = {f.name for f in msg.fields}
    missing = {"x", "y", "z"} - names
    if missing:
        raise CloudError(f"point cloud lacks the field(s) {sorted(missing)}; it has {sorted(names)}")
    count = msg.width * msg.height
    if count == 0:
        raise NoPointsError("point cloud is empty (width * height == 0)")
    dtype = _dtype(msg)
    if msg.height > 1 and msg.row_step != msg.width * msg.point_step:
        rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.row_step)
        raw = rows[:, : msg.width * msg.point_step].copy().view(dtype).reshape(-1)
    else:
        raw = np.frombuffer(bytes(msg.data), dtype=dtype, count=count)
    xyz = np.stack([raw["x"], raw["y"], raw["z"]], axis=-1).astype(np.float32)
    finite = np.isfinite(xyz).all(axis=1)
    if not finite.any():
        raise NoPointsError(f"point cloud has no finite points ({count} NaN/inf)")
    out = {"xyz": xyz[finite]}
    for name in extra_fields:
        if name in names:
            out[name] = np.asarray(raw[name])[finite]
    return out


_POINT_FIELD_TYPES = {np.dtype("float32"): PointField.FLOAT32, np.dtype("uint32"): PointField.UINT32}


def pack_cloud(columns: dict[str, np.ndarray], frame_id: str, stamp=None) -> PointCloud2:
    """An unorganised cloud with one field per column, in the given order: each (N,) float32 or uint32, all of one
    length N (x, y, z, normal_x, ..., cluster); `read_points` reads them back. is_dense: every value finite."""
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns differ in length: { {name: len(v) for name, v in columns.items()} }")
    count = lengths.pop()
    for name, values in columns.items():
        if values.dtype not in _POINT_FIELD_TYPES:
            raise ValueError(f"column {name!r} is {values.dtype}; pack float32 or uint32")
    dtype = np.dtype([(name, values.dtype) for name, values in columns.items()])
    packed = np.empty(count, dtype)
    for name, values in columns.items():
        packed[name] = values
    dense = all(np.isfinite(values).all() for values in columns.values())
    msg = PointCloud2(height=1, width=count, is_bigendian=False, point_step=dtype.itemsize,
                      row_step=dtype.itemsize * count, is_dense=bool(dense), data=packed.tobytes())
    msg.fields = [PointField(name=name, offset=dtype.fields[name][1], datatype=_POINT_FIELD_TYPES[dtype[name]],
                             count=1) for name in dtype.names]
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def xyz_columns(points_m: np.ndarray, prefix: str = "") -> dict[str, np.ndarray]:
    """(N, 3) -> {"x": (N,), "y": ..., "z": ...} float32 (with `prefix`: "normal_" gives normal_x, ...)."""
    points = np.asarray(points_m, np.float32).reshape(-1, 3)
    return {f"{prefix}{axis}": np.ascontiguousarray(points[:, i]) for i, axis in enumerate("xyz")}


def make_cloud(xyz: np.ndarray, frame_id: str, stamp=None) -> PointCloud2:
    """An unorganised float32 x, y, z cloud from (N, 3) points."""
    return pack_cloud(xyz_columns(xyz), frame_id, stamp)
