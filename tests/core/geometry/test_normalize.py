import pytest
import torch

from flash_core.geometry.normalize import normalize_points


@pytest.mark.parametrize("center", ["centroid", "bbox"])
def test_normalize_fits_unit_sphere_and_inverts(center):
    points = torch.rand(3, 100, 3, dtype=torch.float64) * torch.tensor([0.3, 2.0, 0.1], dtype=torch.float64) + 5.0
    normalized, transform = normalize_points(points, center=center)
    radii = torch.linalg.vector_norm(normalized, dim=-1)
    torch.testing.assert_close(radii.amax(dim=1), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(transform.invert(normalized), points)
    if center == "centroid":
        torch.testing.assert_close(normalized.mean(dim=1), torch.zeros(3, 3, dtype=torch.float64))
    else:
        torch.testing.assert_close(normalized.amin(1) + normalized.amax(1), torch.zeros(3, 3, dtype=torch.float64))


def test_normalize_rejects_degenerate_cloud():
    with pytest.raises(ValueError, match="coincide"):
        normalize_points(torch.ones(1, 5, 3))
    with pytest.raises(ValueError, match="center"):
        normalize_points(torch.rand(1, 5, 3), center="median")
