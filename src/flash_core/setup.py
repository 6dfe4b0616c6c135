"""flash_core installs with pip (`pip install -e src/flash_core`) and with colcon (ament_python) alike."""

from setuptools import find_packages, setup

PACKAGE = "flash_core"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="FLASH core: language-conditioned dexterous grasp synthesis (no ROS)",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["**/*.yaml", "**/*.json", "**/*.xml", "**/*.txt", "**/*.safetensors"]},
    include_package_data=True,
    # The ament index marker lets `ros2 pkg` and colcon find the package; harmless under plain pip.
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["numpy", "torch", "pyyaml"],
    entry_points={"console_scripts": ["flash = flash_core.cli:main"]},
)
