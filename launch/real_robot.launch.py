"""FLASH on the real robot: Kinova Gen3 (ros2_kortex), LEAP hand, camera extrinsics, perception, grasp server,
pick node, the hand's robot_state_publisher and RViz.

    ros2 launch flash_bringup real_robot.launch.py robot_ip:=192.168.1.10 \
        hand_port:=/dev/ttyUSB0 cloud_topic:=/camera/depth/points [checkpoint:=/path/to/flash_checkpoint]

Needs ROS 2 Jazzy with ros2_kortex (`ros-jazzy-kortex-bringup`); `ros2 launch` is not on PyPI: `flash bringup
real` runs the same nodes (config/graph.yaml's `real` mode) but not ros2_kortex's launch file. Set
use_fake_hardware:=true to run the arm on ros2_control's mock hardware and the hand on the driver's in-memory
bus (see mock_hardware.launch.py).
"""

from flash_bringup.launch_actions import graph_launch_description


def generate_launch_description():
    return graph_launch_description("real")
