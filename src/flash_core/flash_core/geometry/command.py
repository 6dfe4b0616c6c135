"""`flash mesh repair IN OUT | sdf-grid IN OUT | info IN`: prepare object meshes from the command line."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mesh_cmd", required=True)
    info = sub.add_parser("info", help="print size, extents and water-tightness of a mesh file")
    info.add_argument("mesh")
    repair = sub.add_parser("repair", help="make a mesh water-tight and print what was done")
    repair.add_argument("mesh")
    repair.add_argument("output", help="output mesh file (format from the suffix)")
    repair.add_argument("--resolution", type=int, default=128, help="voxels along the longest side if remeshing")
    repair.add_argument("--smoothing", type=int, default=10, help="Taubin smoothing iterations after remeshing")
    repair.add_argument("--force-remesh", action="store_true", help="remesh even if hole filling closes the mesh")
    grid = sub.add_parser("sdf-grid", help="precompute a signed-distance grid (safetensors) for training penalties")
    grid.add_argument("mesh")
    grid.add_argument("output", help="output .safetensors file")
    grid.add_argument("--resolution", type=int, default=64, help="nodes per axis")
    grid.add_argument("--padding-m", type=float, default=0.02, help="margin around the mesh bounds")


def run(args: argparse.Namespace) -> None:
    from flash_core.geometry.mesh import load_mesh

    mesh = load_mesh(args.mesh)
    if args.mesh_cmd == "info":
        print(
            f"{args.mesh}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces, "
            f"extents {', '.join(f'{e:.4f}' for e in mesh.extents)} m, water-tight {mesh.is_watertight}"
        )
    elif args.mesh_cmd == "repair":
        from flash_core.geometry.mesh_repair import RepairConfig, repair_mesh

        config = RepairConfig(
            voxel_resolution=args.resolution, smoothing_iterations=args.smoothing, force_remesh=args.force_remesh
        )
        repaired, report = repair_mesh(mesh, config)
        repaired.export(args.output)
        for step in report.steps or ("nothing to do: already water-tight",):
            print(f"- {step}")
        print(
            f"water-tight {report.was_watertight} -> {report.is_watertight}, faces {report.faces_before} -> "
            f"{report.faces_after}, surface moved <= {report.input_to_output_m * 1e3:.2f} mm, "
            f"new surface <= {report.output_to_input_m * 1e3:.2f} mm from the old; wrote {args.output}"
        )
    else:
        from flash_core.geometry.sdf import MeshSDF
        from flash_core.geometry.sdf_grid import SDFGrid

        sdf = MeshSDF.from_trimesh(mesh)
        grid = SDFGrid.from_mesh_sdf(sdf, resolution=args.resolution, padding_m=args.padding_m)
        grid.save(args.output)
        print(
            f"{tuple(grid.values.shape)} grid, sign by {sdf.sign_method}, spacing "
            f"{float(grid.spacing_m.max()) * 1e3:.2f} mm, trilinear error <= {grid.max_error_m * 1e3:.2f} mm; "
            f"wrote {args.output}"
        )
