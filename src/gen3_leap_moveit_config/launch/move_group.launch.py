"""MoveIt 2 move_group for the Gen3 + LEAP hand (ROS 2 Jazzy with MoveIt 2).

    ros2 launch gen3_leap_moveit_config move_group.launch.py
    ros2 launch gen3_leap_moveit_config move_group.launch.py urdf:=urdf/gen3_leap.urdf srdf:=urdf/gen3_leap.srdf

The URDF is generated per machine (its mesh paths point into the FLASH asset cache), so it is not installed
with this package. Without `urdf`, the launch writes the default-mount URDF into the cache through flash_core
and uses the SRDF installed here (computed for that mount). With your own hand mount, write both files with
`flash robot-description --out urdf/ --mount-xyz ... --mount-quat ... --srdf` and pass them.
Start the arm (ros2_kortex) and the hand driver separately, e.g. with flash_bringup's real_robot.launch.py.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "gen3_leap_moveit_config"


def _move_group(context):
    from flash_motion.moveit_backend import moveit_parameters

    # Relative paths are the user's (cwd), not this package's: make them absolute before loading.
    urdf, srdf = (LaunchConfiguration(name).perform(context) for name in ("urdf", "srdf"))
    urdf, srdf = (str(Path(p).resolve()) if p else "" for p in (urdf, srdf))
    if not urdf:
        from flash_core.planning.description import write_robot_description
        from flash_core.utils.cache import cache_dir

        urdf = str(write_robot_description(cache_dir("moveit", "default_mount"))["urdf"])
    if not srdf:
        srdf = str(Path(get_package_share_directory(PACKAGE)) / "config" / "gen3_leap.srdf")
    return [Node(package="moveit_ros_move_group", executable="move_group", output="screen",
                 parameters=[moveit_parameters(urdf, srdf)])]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("urdf", default_value="", description="Gen3 + LEAP URDF (default: generated)"),
        DeclareLaunchArgument("srdf", default_value="", description="its SRDF (default: this package's)"),
        OpaqueFunction(function=_move_group),
    ])
