from setuptools import setup

PACKAGE = "flash_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    entry_points={"console_scripts": [f"static_frames = {PACKAGE}.static_frames_node:main"]},
    description="rclpy helpers shared by FLASH's nodes",
    license="Apache-2.0",
)
