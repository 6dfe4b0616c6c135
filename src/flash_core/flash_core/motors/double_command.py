"""`flash leap-double`: run the Dynamixel test double and print its pty path, for trying the driver
without a hand (e.g. `leap_hand_driver --ros-args -p port:=/dev/pts/N`)."""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ids", type=int, nargs="+", default=list(range(16)), help="motor IDs (default 0..15)")
    parser.add_argument("--model", default="xc330-m288", help="Dynamixel model of every motor")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")


def run(args: argparse.Namespace) -> None:
    from flash_core.motors.dynamixel.double import DynamixelDouble

    with DynamixelDouble(args.ids, args.model) as double:
        print(f"Dynamixel Protocol 2.0 double: {len(args.ids)} x {args.model} (IDs {args.ids})", flush=True)
        print(f"port: {double.port}", flush=True)
        print("Ctrl-C to stop.", flush=True)
        deadline = None if args.seconds is None else time.monotonic() + args.seconds
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        print(f"served {double.instructions_received} instruction packets", flush=True)
