"""The live hand's surface features: where the object surface is from each hand point."""

import pytest
import torch

from flash_core.geometry.cloud_sdf import estimate_normals
from flash_core.model.hand_encoder import (
    SURFACE_RANGE_M,
    SURFACE_SCALE_M,
    HandEncoder,
    HandEncoderConfig,
    surface_features,
)


def sphere(num: int, radius_m: float) -> torch.Tensor:
    points = torch.randn(num, 3, generator=torch.Generator().manual_seed(0))
    return radius_m * points / points.norm(dim=-1, keepdim=True)


def test_signed_distance_is_positive_outside_negative_inside_and_clamped():
    cloud = sphere(4000, 0.05)
    normals = estimate_normals(cloud)
    directions = torch.tensor([[1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
    radii = torch.tensor([0.06, 0.04, 0.3])  # 1 cm outside, 1 cm inside, far
    queries = (directions * radii[:, None])[None]  # (1, 3, 3)
    features = surface_features(queries, cloud[None], normals[None])[0]  # (3, 5)
    signed_m, distance_m = features[:, 0] * SURFACE_SCALE_M, features[:, 1] * SURFACE_SCALE_M
    torch.testing.assert_close(signed_m[:2], torch.tensor([0.01, -0.01]), atol=1.5e-3, rtol=0)
    torch.testing.assert_close(distance_m[:2], torch.tensor([0.01, 0.01]), atol=1.5e-3, rtol=0)
    assert signed_m[2] == pytest.approx(SURFACE_RANGE_M) and distance_m[2] == pytest.approx(SURFACE_RANGE_M)
    # The normal of the nearest object point points outward, along the query's direction.
    assert ((features[:, 2:] * directions).sum(-1) > 0.95).all()


def test_encoder_refuses_features_it_was_not_built_for():
    plain = HandEncoder(HandEncoderConfig(), 32)
    with_surface = HandEncoder(HandEncoderConfig(), 32, object_distance=True)
    points = sphere(256, 0.08)[None]
    features = torch.zeros(1, 256, 5)
    assert with_surface(points, features).shape == plain(points).shape == (1, 16, 32)
    with pytest.raises(ValueError, match="needs surface features"):
        with_surface(points)
    with pytest.raises(ValueError, match="takes no surface features"):
        plain(points, features)
