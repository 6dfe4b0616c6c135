"""PointCloud2 reading against clouds packed by hand with struct-like numpy layouts."""

import numpy as np
import pytest
from sensor_msgs.msg import PointCloud2, PointField

from flash_ros.cloud import CloudError, make_cloud, read_points


def _packed_cloud(points: np.ndarray, *, bigendian=False, padding=4, height=1, extra=None) -> PointCloud2:
    order = ">" if bigendian else "<"
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4")] + ([("intensity", "f8")] if extra is not None else [])
    dtype = np.dtype({"names": [n for n, _ in fields], "formats": [order + f for _, f in fields],
                      "offsets": [0, 4, 8, 16][: len(fields)], "itemsize": 24 + padding})
    arr = np.zeros(len(points), dtype=dtype)
    for i, c in enumerate("xyz"):
        arr[c] = points[:, i]
    if extra is not None:
        arr["intensity"] = extra
    types = {"f4": PointField.FLOAT32, "f8": PointField.FLOAT64}
    msg = PointCloud2(height=height, width=len(points) // height, is_bigendian=bigendian,
                      point_step=dtype.itemsize, row_step=dtype.itemsize * (len(points) // height))
    msg.fields = [PointField(name=n, offset=o, datatype=types[f], count=1)
                  for (n, f), o in zip(fields, [0, 4, 8, 16])]
    msg.data = arr.tobytes()
    return msg


@pytest.mark.parametrize("bigendian", [False, True])
def test_reads_padded_layouts_and_extra_fields(bigendian):
    pts = np.random.default_rng(1).normal(size=(60, 3)).astype(np.float32)
    intensity = np.arange(60, dtype=np.float64)
    out = read_points(_packed_cloud(pts, bigendian=bigendian, extra=intensity, height=3),
                      extra_fields=("intensity", "normal_x"))
    np.testing.assert_array_equal(out["xyz"], pts)
    np.testing.assert_array_equal(out["intensity"], intensity)
    assert "normal_x" not in out


def test_drops_non_finite_points_and_round_trips():
    pts = np.random.default_rng(2).normal(size=(10, 3)).astype(np.float32)
    pts[3] = np.nan
    out = read_points(make_cloud(pts, "camera"))
    assert out["xyz"].shape == (9, 3)
    np.testing.assert_array_equal(out["xyz"], np.delete(pts, 3, axis=0))


@pytest.mark.parametrize("case, match", [
    ("empty", "empty"), ("all_nan", "no finite"), ("no_z", "lacks"), ("short", "bytes"),
])
def test_bad_clouds_are_named(case, match):
    pts = np.ones((5, 3), np.float32)
    msg = make_cloud(pts, "camera")
    if case == "empty":
        msg = make_cloud(np.zeros((0, 3), np.float32), "camera")
    elif case == "all_nan":
        msg = make_cloud(np.full((5, 3), np.nan, np.float32), "camera")
    elif case == "no_z":
        msg.fields = msg.fields[:2]
    elif case == "short":
        msg.data = msg.data[:20]
    with pytest.raises(CloudError, match=match):
        read_points(msg)
