from setuptools import find_packages, setup

PACKAGE = "flash_perception"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    description="Tabletop perception for FLASH: depth camera cloud -> target object cloud, obstacles, table",
    license="Apache-2.0",
    entry_points={"console_scripts": [f"perception = {PACKAGE}.perception_node:main"]},
)
