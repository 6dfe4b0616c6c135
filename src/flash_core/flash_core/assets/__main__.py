"""`python -m flash_core.assets ...`: the same as `flash assets ...`."""

import argparse

from flash_core.assets.command import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m flash_core.assets")
add_arguments(parser)
run(parser.parse_args())
