import numpy as np
import pytest
import torch
import trimesh

from flash_core.geometry.mesh import load_mesh, normalize_mesh, sample_surface


@pytest.mark.parametrize("suffix", [".obj", ".stl", ".ply", ".glb"])
def test_load_round_trip(tmp_path, suffix):
    box = trimesh.creation.box(extents=(0.2, 0.1, 0.06))
    path = tmp_path / f"box{suffix}"
    box.export(path)
    loaded = load_mesh(path)
    assert loaded.is_watertight and len(loaded.faces) == 12
    assert loaded.volume == pytest.approx(box.volume, rel=1e-5)


def test_load_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_mesh(tmp_path / "missing.obj")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="unsupported mesh format"):
        load_mesh(tmp_path / "notes.txt")
    (tmp_path / "empty.obj").write_text("")
    with pytest.raises(ValueError, match="empty|no triangles"):
        load_mesh(tmp_path / "empty.obj")
    (tmp_path / "broken.stl").write_bytes(b"\x00\x01garbage" * 3)
    with pytest.raises(ValueError):
        load_mesh(tmp_path / "broken.stl")
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(ValueError, match="NaN|empty|no triangles"):
        load_mesh(tmp_path / "nan.obj")


def test_normalize_mesh_fits_unit_sphere():
    box = trimesh.creation.box(extents=(0.2, 0.1, 0.06))
    box.apply_translation([1.0, -2.0, 0.5])
    normalized, transform = normalize_mesh(box)
    radii = np.linalg.norm(normalized.vertices, axis=1)
    assert radii.max() == pytest.approx(1.0)
    np.testing.assert_allclose(normalized.bounds.sum(axis=0), 0.0, atol=1e-12)  # bbox centred
    back = transform.invert(torch.as_tensor(normalized.vertices)[None])[0].numpy()
    np.testing.assert_allclose(back, box.vertices, atol=1e-12)


def test_sample_surface_points_lie_on_surface_with_outward_normals():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.1)
    samples = sample_surface(sphere, num_points=512, oversample=4)
    assert samples.points.shape == (512, 3) and samples.normals.shape == (512, 3) and samples.faces.shape == (512,)
    radii = torch.linalg.vector_norm(samples.points, dim=-1)
    assert float((radii - 0.1).abs().max()) < 1e-3
    cosine = (torch.nn.functional.normalize(samples.points, dim=-1) * samples.normals).sum(-1)
    assert float(cosine.min()) > 0.98


def test_fps_thinning_spreads_samples_more_evenly():
    box = trimesh.creation.box(extents=(0.2, 0.1, 0.06))

    def nearest_gap(points: torch.Tensor) -> torch.Tensor:
        d = torch.cdist(points, points) + torch.eye(len(points)) * 1e9
        return d.min(dim=1).values

    plain = nearest_gap(sample_surface(box, 1024, oversample=1).points)
    thinned = nearest_gap(sample_surface(box, 1024, oversample=4).points)
    assert float(thinned.min()) > 2 * float(plain.min())  # no clumps
    assert float(thinned.std() / thinned.mean()) < float(plain.std() / plain.mean())


def test_mesh_functions_reject_empty_mesh():
    empty = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="empty"):
        sample_surface(empty)
    with pytest.raises(ValueError, match="empty"):
        normalize_mesh(empty)
