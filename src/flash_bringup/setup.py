"""flash_bringup: the node graph's reader, runner (`flash bringup`) and launch actions; installs the repository's
top-level launch/ and config/ (linked here) into share/flash_bringup."""

from glob import glob

from setuptools import setup

PACKAGE = "flash_bringup"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
    ],
    install_requires=["setuptools"],
    description="The FLASH node graph: launch files, parameters and a runner without ros2 launch",
    license="Apache-2.0",
)
