from setuptools import find_packages, setup

PACKAGE = "flash_sim"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["scenes/*.yaml"]},  # built-in scenes, read with importlib.resources
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    description="MuJoCo simulation of the Gen3 + LEAP on the Isaac Sim ROS 2 topic contract",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        f"sim = {PACKAGE}.sim_node:main",
        f"trajectory_servers = {PACKAGE}.trajectory_node:main",
    ]},
)
