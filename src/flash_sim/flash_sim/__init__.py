"""FLASH's simulator: MuJoCo on the Isaac Sim ROS 2 topic contract (see README in this folder)."""
