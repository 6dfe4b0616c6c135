"""FLASH grasps in other tools' formats (docs/interchange.md).

- `isaac_grasp`   Isaac ROS / Isaac Sim `isaac_grasp` YAML (format 1.0): write, read and check
- `moveit_grasp`  `moveit_msgs/Grasp`: the fields as plain data, and the message where moveit_msgs is installed
"""
