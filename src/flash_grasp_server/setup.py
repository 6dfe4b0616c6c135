from setuptools import find_packages, setup

PACKAGE = "flash_grasp_server"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    description="GenerateGrasp action server for FLASH",
    license="Apache-2.0",
    entry_points={"console_scripts": [f"grasp_server = {PACKAGE}.server_node:main"]},
)
