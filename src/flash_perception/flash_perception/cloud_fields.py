"""Unorganised PointCloud2 messages with named per-point fields (x, y, z, normal_x, ..., cluster), packed from
numpy columns. flash_ros.cloud.read_points reads them back (the grasp server reads normals this way)."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

_POINT_FIELD_TYPES = {np.dtype("float32"): PointField.FLOAT32, np.dtype("uint32"): PointField.UINT32}


def pack_cloud(columns: dict[str, np.ndarray], frame_id: str, stamp=None) -> PointCloud2:
    """One field per column, in the given order: each (N,) float32 or uint32, all of one length N."""
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
    msg = PointCloud2(height=1, width=count, is_bigendian=False, point_step=dtype.itemsize,
                      row_step=dtype.itemsize * count, is_dense=True, data=packed.tobytes())
    msg.fields = [PointField(name=name, offset=dtype.fields[name][1], datatype=_POINT_FIELD_TYPES[dtype[name]],
                             count=1) for name in dtype.names]
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def xyz_columns(points_m: np.ndarray, prefix: str = "") -> dict[str, np.ndarray]:
    """(N, 3) -> {"x": (N,), "y": ..., "z": ...} float32 (with `prefix`: "normal_" gives normal_x, ...)."""
    points = np.asarray(points_m, np.float32)
    return {f"{prefix}{axis}": np.ascontiguousarray(points[:, i]) for i, axis in enumerate("xyz")}
