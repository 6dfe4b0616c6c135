import pytest
import torch

from flash_core.geometry.chamfer import chamfer_distance


def brute_force_chamfer(x, y, squared, reduction):
    d = torch.cdist(x, y)
    d = d.square() if squared else d
    reduce = (lambda t: t.mean(-1)) if reduction == "mean" else (lambda t: t.sum(-1))
    return reduce(d.min(-1).values) + reduce(d.min(-2).values)


@pytest.mark.parametrize("backend", ["brute", "kdtree"])
@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_chamfer_matches_brute_force(squared, reduction, backend):
    x, y = torch.rand(3, 128, 3, dtype=torch.float64), torch.rand(3, 77, 3, dtype=torch.float64)
    result = chamfer_distance(
        x, y, reduction=reduction, squared=squared, backend=backend, max_pairs_per_chunk=3 * 10 * 128
    )
    torch.testing.assert_close(result.distance, brute_force_chamfer(x, y, squared, reduction))
    torch.testing.assert_close(result.distance, result.x_to_y + result.y_to_x)


def test_chamfer_of_identical_clouds_is_zero_and_symmetric():
    x, y = torch.rand(2, 50, 3), torch.rand(2, 60, 3)
    assert torch.allclose(chamfer_distance(x, x).distance, torch.zeros(2))
    torch.testing.assert_close(chamfer_distance(x, y).distance, chamfer_distance(y, x).distance)


@pytest.mark.parametrize("squared", [True, False])
def test_chamfer_gradcheck(squared):
    x = torch.rand(2, 7, 3, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: chamfer_distance(a, b, squared=squared).distance, (x, y))


def test_chamfer_bad_input():
    with pytest.raises(ValueError, match="reduction"):
        chamfer_distance(torch.rand(1, 5, 3), torch.rand(1, 5, 3), reduction="max")
    with pytest.raises(ValueError, match="dtype|float"):
        chamfer_distance(torch.rand(1, 5, 3), torch.rand(1, 5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        chamfer_distance(torch.rand(1, 5, 2), torch.rand(1, 5, 3))
