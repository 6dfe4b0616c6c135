"""Request checks of the grasp server, on clouds with NaN/inf rows, bad normals and out-of-range numbers."""

import math

import numpy as np
import pytest

from flash_core.grasp_request import (
    InvalidRequest,
    NoUsableObject,
    RequestLimits,
    check_num_grasps,
    check_time_budget,
    clean_object_cloud,
    count_nonfinite_grasps,
)

LIMITS = RequestLimits(max_num_grasps=16, min_points=4, max_points=50)


def _cloud(n: int = 20):
    rng = np.random.default_rng(0)
    normals = rng.normal(size=(n, 3))
    return 0.05 * rng.normal(size=(n, 3)) + [1.0, 0.0, 0.5], normals


def test_rows_with_non_finite_points_or_unusable_normals_are_dropped_and_normals_made_unit():
    points, normals = _cloud()
    points[1, 0], points[2, 2] = np.nan, np.inf
    normals[3] = [0.0, 0.0, 0.0]
    normals[4, 1] = -np.inf
    normals[5] = [1e30, 1e30, 0.0]  # finite, but its length overflows float32: kept, scaled in float64
    cloud = clean_object_cloud(points, normals, LIMITS)
    keep = np.ones(20, bool)
    keep[1:5] = False
    np.testing.assert_array_equal(cloud.points, points[keep].astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(cloud.normals[1], [np.sqrt(0.5), np.sqrt(0.5), 0.0], rtol=1e-6)
    assert clean_object_cloud(points[keep], None, LIMITS).normals is None


@pytest.mark.parametrize("case, error, words", [
    ("all_normals_nan", NoUsableObject, "0 usable points (20 of 20 dropped"),
    ("one_point", NoUsableObject, "1 usable points; at least 4"),
    ("too_many", InvalidRequest, "60 points, more than the 50"),
    ("far_away", InvalidRequest, "coordinate of 1e+06 m"),
    ("normals_shape", InvalidRequest, "do not match"),
    ("flat", InvalidRequest, "must be (N, 3)"),
])
def test_unusable_clouds_are_named(case, error, words):
    points, normals = _cloud()
    if case == "all_normals_nan":
        normals[:] = np.nan
    elif case == "one_point":
        points, normals = points[:1], normals[:1]
    elif case == "too_many":
        points, normals = _cloud(60)
    elif case == "far_away":
        points[7] = [1e6, 0.0, 0.0]
    elif case == "normals_shape":
        normals = normals[:5]
    elif case == "flat":
        points, normals = points.reshape(-1), None
    with pytest.raises(error) as raised:
        clean_object_cloud(points, normals, LIMITS)
    assert words in str(raised.value)


def test_num_grasps_and_time_budget_bounds():
    assert check_num_grasps(0, 8, LIMITS) == 8
    assert check_num_grasps(16, 8, LIMITS) == 16
    with pytest.raises(InvalidRequest, match=r"num_grasps 17 is out of range: 1\.\.16"):
        check_num_grasps(17, 8, LIMITS)
    assert check_time_budget(0.0) is None and check_time_budget(0.25) == 0.25
    for bad in (-0.5, math.nan, math.inf):
        with pytest.raises(InvalidRequest, match="time_budget"):
            check_time_budget(bad)
    with pytest.raises(ValueError, match="min_points"):
        RequestLimits(min_points=10, max_points=5)


def test_non_finite_grasps_are_counted():
    vectors, scores = np.zeros((4, 25)), np.zeros(4)
    vectors[1, 3], scores[2] = np.nan, -np.inf
    assert count_nonfinite_grasps(vectors, scores) == 2
    assert count_nonfinite_grasps(vectors[[0, 3]], scores[[0, 3]]) == 0
