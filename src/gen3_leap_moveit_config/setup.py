"""Installs config/ and launch/ into share/gen3_leap_moveit_config (no Python modules)."""

from glob import glob

from setuptools import setup

PACKAGE = "gen3_leap_moveit_config"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.srdf")),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
    ],
    install_requires=["setuptools"],
    description="MoveIt 2 configuration of the Kinova Gen3 with the LEAP hand",
    license="Apache-2.0",
)
