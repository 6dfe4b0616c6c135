"""ROS 2 interface of the LEAP hand driver; the driver itself is `flash_core.motors`."""
