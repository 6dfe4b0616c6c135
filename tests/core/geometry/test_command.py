import numpy as np
import trimesh

from flash_core.cli import main
from flash_core.geometry.mesh import load_mesh
from flash_core.geometry.sdf_grid import SDFGrid


def test_mesh_repair_and_sdf_grid_commands(tmp_path, capsys):
    box = trimesh.creation.box(extents=(0.2, 0.1, 0.06))
    box.update_faces(np.arange(len(box.faces)) >= 2)
    source, repaired, grid = tmp_path / "open_box.stl", tmp_path / "box.obj", tmp_path / "box_sdf.safetensors"
    box.export(source)

    main(["mesh", "info", str(source)])
    assert "water-tight False" in capsys.readouterr().out
    main(["mesh", "repair", str(source), str(repaired)])
    assert "filled holes" in capsys.readouterr().out
    assert load_mesh(repaired).is_watertight

    main(["mesh", "sdf-grid", str(repaired), str(grid), "--resolution", "16"])
    assert "trilinear error" in capsys.readouterr().out
    loaded = SDFGrid.load(grid)
    assert loaded.values.shape == (16, 16, 16) and float(loaded.values.min()) < 0  # the box has an inside
