from setuptools import find_packages, setup

PACKAGE = "flash_motion"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    description="Pick execution for FLASH grasps on a Kinova Gen3 with a LEAP hand",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        f"pick_node = {PACKAGE}.pick_node:main",
        f"fake_trajectory_controller = {PACKAGE}.fake_controller:main",
    ]},
)
