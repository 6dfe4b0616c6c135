"""Point the ROS 2 wheels' exported CMake files at this interpreter's include directories.

The msg wheels export `export_<pkg>__rosidl_generator_pyExport.cmake` files that name the wheel build
machine's Python and NumPy include folders (/opt/python/cp311-cp311/...); CMake's generate step fails
on the missing path when colcon builds our interface packages against them. Idempotent: run it after
every (re)install of a msg wheel.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy


def main() -> int:
    prefix = Path(sys.prefix)
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    wanted = f"{python_include};{numpy_include}"
    # The wrong value is a quoted, ;-separated list that contains a python include folder.
    pattern = re.compile(r'INTERFACE_INCLUDE_DIRECTORIES "([^"]*include/python3[^"]*)"')
    fixed = 0
    for path in prefix.glob("share/*/cmake/export_*__rosidl_generator_pyExport.cmake"):
        text = path.read_text()
        new = pattern.sub(f'INTERFACE_INCLUDE_DIRECTORIES "{wanted}"', text)
        if new != text:
            path.write_text(new)
            fixed += 1
    print(f"fix_ros_wheel_cmake: rewrote {fixed} exported CMake file(s) under {prefix}/share")
    return 0


if __name__ == "__main__":
    sys.exit(main())
