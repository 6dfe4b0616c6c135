"""rclpy helpers shared by FLASH's nodes."""

from flash_ros.run import run_node

__all__ = ["run_node"]
