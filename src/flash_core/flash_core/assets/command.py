"""`flash assets fetch | path NAME | list`."""

from __future__ import annotations

import argparse

from flash_core.assets.fetch import asset_dir, fetch_all
from flash_core.assets.sources import SOURCES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="assets_cmd", required=True)
    sub.add_parser("fetch", help="download and extract every robot model and object set (idempotent)")
    path = sub.add_parser("path", help="print the model file of one asset")
    path.add_argument("name", choices=sorted(SOURCES))
    sub.add_parser("list", help="list assets, sources and licences")


def run(args: argparse.Namespace) -> None:
    if args.assets_cmd == "fetch":
        width = max(map(len, SOURCES))
        for name, entry in fetch_all(quiet=True).items():
            print(f"{name:{width}s} {entry}")
    elif args.assets_cmd == "path":
        print(asset_dir(args.name))
    else:
        width = max(map(len, SOURCES))
        for s in SOURCES.values():
            print(f"{s.name:{width}s} {s.requirement:18s} {s.licence:24s} {s.entry}")
