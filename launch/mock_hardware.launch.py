"""FLASH without hardware: ros2_kortex on ros2_control mock hardware, the LEAP driver on its in-memory bus,
perception, the grasp server and the pick node. Same nodes and topics as real_robot.launch.py
(config/graph.yaml's `mock` mode: the `real` mode with robot_ip:=0.0.0.0 use_fake_hardware:=true).

    ros2 launch flash_bringup mock_hardware.launch.py [checkpoint:=/path/to/flash_checkpoint]
"""

from flash_bringup.launch_actions import graph_launch_description


def generate_launch_description():
    return graph_launch_description("mock")
