import pytest
import torch
import trimesh

from flash_core.geometry.sdf import MeshSDF
from flash_core.geometry.sdf_grid import SDFGrid, SDFGridBatch


@pytest.fixture(scope="module")
def torus_sdf():
    return MeshSDF.from_trimesh(
        trimesh.creation.torus(major_radius=0.06, minor_radius=0.02, major_sections=48, minor_sections=24)
    )


@pytest.fixture(scope="module")
def torus_grid(torus_sdf):
    return SDFGrid.from_mesh_sdf(torus_sdf, resolution=40, padding_m=0.01)


def random_points_in(bounds: torch.Tensor, count: int) -> torch.Tensor:
    return (bounds[0] + torch.rand(1, count, 3, dtype=torch.float64) * (bounds[1] - bounds[0])).double()


def test_grid_nodes_reproduce_exact_values(torus_sdf, torus_grid):
    axes = [
        torch.linspace(float(torus_grid.bounds_m[0, i]), float(torus_grid.bounds_m[1, i]), 40, dtype=torch.float64)
        for i in range(3)
    ]
    nodes = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)[::7, ::5, ::3].reshape(1, -1, 3)
    torch.testing.assert_close(torus_grid(nodes), torus_sdf(nodes), atol=1e-6, rtol=0)


def test_grid_error_within_stated_bound(torus_sdf, torus_grid):
    points = random_points_in(torus_grid.bounds_m.double(), 20000)
    error = (torus_grid(points) - torus_sdf(points)).abs()
    spacing = (torus_grid.bounds_m[1] - torus_grid.bounds_m[0]) / 39
    assert torus_grid.max_error_m == pytest.approx(0.5 * float(spacing.norm()))
    assert float(error.max()) <= torus_grid.max_error_m
    assert float(error.mean()) < 0.1 * torus_grid.max_error_m  # smooth surface: far below the bound


def test_grid_gradient_matches_finite_differences(torus_grid):
    points = random_points_in(torus_grid.bounds_m.double() * 0.8, 300).requires_grad_(True)
    (gradient,) = torch.autograd.grad(torus_grid(points).sum(), points)
    step = 1e-7  # small enough to stay inside one cell for almost every point
    for axis in range(3):
        offset = torch.zeros(3, dtype=torch.float64)
        offset[axis] = step
        central = (torus_grid(points.detach() + offset) - torus_grid(points.detach() - offset)) / (2 * step)
        close = (gradient[..., axis] - central).abs() < 1e-5
        assert float(close.double().mean()) > 0.99


def test_grid_outside_is_an_upper_bound_and_continuous(torus_sdf, torus_grid):
    far = torch.tensor([[[0.5, 0.0, 0.0], [0.0, -0.3, 0.2]]], dtype=torch.float64)
    assert bool((torus_grid(far) >= torus_sdf(far) - 1e-6).all())
    edge = torus_grid.bounds_m[1].double()[None, None]
    torch.testing.assert_close(torus_grid(edge + 1e-9), torus_grid(edge), atol=1e-8, rtol=0)


def test_grid_save_load_round_trip(tmp_path, torus_grid):
    path = tmp_path / "torus_sdf.safetensors"
    torus_grid.save(path)
    loaded = SDFGrid.load(path)
    assert torch.equal(loaded.values, torus_grid.values) and torch.equal(loaded.bounds_m, torus_grid.bounds_m)
    points = torch.rand(2, 100, 3)
    torch.testing.assert_close(loaded(points), torus_grid(points))


def test_grid_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError):
        SDFGrid.load(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot read"):
        SDFGrid.load(junk)
    with pytest.raises(ValueError, match="bounds_m"):
        SDFGrid(values=torch.zeros(4, 4, 4), bounds_m=torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        SDFGrid(values=torch.full((4, 4, 4), float("nan")), bounds_m=torch.tensor([[0.0] * 3, [1.0] * 3]))
    grid = SDFGrid(values=torch.zeros(4, 4, 4), bounds_m=torch.tensor([[0.0] * 3, [1.0] * 3]))
    with pytest.raises(ValueError, match="NaN"):
        grid(torch.tensor([[[float("nan"), 0.0, 0.0]]]))


def test_grid_batch_reads_each_row_from_its_own_grid(torus_sdf, torus_grid):
    box_grid = SDFGrid.from_mesh_sdf(
        MeshSDF.from_trimesh(trimesh.creation.box(extents=(0.1, 0.06, 0.04))), resolution=40
    )
    batch = SDFGridBatch.stack([torus_grid, box_grid])
    points = torch.rand(2, 500, 3, dtype=torch.float64) * 0.2 - 0.1
    points[:, :4] = torus_grid.bounds_m.double()[1]  # top corner nodes: where neighbouring slabs meet
    expected = torch.stack([torus_grid(points[:1])[0], box_grid(points[1:])[0]])
    torch.testing.assert_close(batch(points), expected)
    objects = torch.tensor([1, 1, 0])
    torch.testing.assert_close(batch(points[[1, 1, 0]], objects=objects), expected[[1, 1, 0]])
    points.requires_grad_(True)
    (gradient,) = torch.autograd.grad(batch(points).sum(), points)
    (expected_gradient,) = torch.autograd.grad(torus_grid(points[:1]).sum(), points)
    torch.testing.assert_close(gradient[0], expected_gradient[0])
    with pytest.raises(ValueError, match="rows"):
        batch(points[:1].detach())
    with pytest.raises(ValueError, match="objects"):
        batch(points.detach(), objects=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="node counts"):
        SDFGridBatch.stack([torus_grid, SDFGrid.from_mesh_sdf(torus_sdf, resolution=8)])
