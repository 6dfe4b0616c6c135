"""The `flash` command. Each subcommand lives in its own module and is imported only when used.

Add a subcommand by adding one line to COMMANDS: name -> (module, help). The module defines
`add_arguments(parser)` and `run(args)`. Commands of the training package (`training/`, installed as
`flash-training`) are listed too; where it is not installed they say how to get it.
"""

from __future__ import annotations

import argparse
import importlib

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("flash_training.demo", "the built-in default job: grasps for a prompt, with pictures"),
    "dataset": ("flash_training.data.command", "build FLASH-Drive grasp data sets"),
    "train": ("flash_training.train.command", "train a FLASH model on a FLASH-Drive data set"),
    "ablations": ("flash_training.ablations", "train and judge the paper's ablations and baselines on one data set"),
    "eval": ("flash_training.eval.command", "judge grasps in MuJoCo: lift and force-closure success, metrics"),
    "export-grasps": ("flash_training.export_grasps", "write grasps as Isaac ROS isaac_grasp YAML"),
    "assets": ("flash_core.assets.command", "fetch and locate robot models"),
    "leap-double": ("flash_core.motors.double_command", "simulated LEAP hand motors on a pseudo-terminal"),
    "mesh": ("flash_core.geometry.command", "inspect, repair and precompute SDF grids of object meshes"),
    "robot-description": ("flash_core.planning.command", "write the Gen3 + LEAP MJCF/URDF robot description"),
    "bringup": ("flash_bringup.command", "run the ROS 2 node graph (sim, real, mock) without ros2 launch"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="flash", description="FLASH: language-conditioned dexterous grasping")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text)
        sub_parser.set_defaults(_module=module)
        try:
            command = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module.split(".")[0]:
                raise
            sub_parser.set_defaults(_missing=exc.name)
            continue
        command.add_arguments(sub_parser)
    args, _ = parser.parse_known_args(argv)
    if getattr(args, "_missing", None):
        source = "training" if args._missing == "flash_training" else f"src/{args._missing}"
        parser.exit(2, f"flash {args.command}: needs the package {args._missing}, not installed here; "
                       f"install it with: pip install -e {source}\n")
    args = parser.parse_args(argv)
    importlib.import_module(args._module).run(args)


if __name__ == "__main__":
    main()
