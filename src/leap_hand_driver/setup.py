from setuptools import find_packages, setup

PACKAGE = "leap_hand_driver"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    description="LEAP hand driver node for FLASH",
    license="Apache-2.0",
    entry_points={"console_scripts": [f"leap_hand_driver = {PACKAGE}.driver_node:main"]},
)
