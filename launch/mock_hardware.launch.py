"""FLASH without hardware: ros2_kortex on ros2_control mock hardware, the LEAP driver on its in-memory
bus, perception, the grasp server and the pick node. Same nodes and topics as real_robot.launch.py.

    ros2 launch flash_bringup mock_hardware.launch.py checkpoint:=/path/to/flash_checkpoint
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    real_robot = PathJoinSubstitution([FindPackageShare("flash_bringup"), "launch", "real_robot.launch.py"])
    return LaunchDescription([
        DeclareLaunchArgument("checkpoint", description="FLASH checkpoint folder"),
        DeclareLaunchArgument("launch_rviz", default_value="true"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(real_robot),
            launch_arguments={
                "robot_ip": "0.0.0.0",
                "use_fake_hardware": "true",
                "checkpoint": LaunchConfiguration("checkpoint"),
                "launch_rviz": LaunchConfiguration("launch_rviz"),
            }.items(),
        ),
    ])
