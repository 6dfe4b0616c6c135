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

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "gen3_leap_moveit_config"


def _move_group(context):
    from moveit_configs_utils import MoveItConfigsBuilder

    # The builder reads relative paths inside this package: make the user's paths absolute first.
    urdf, srdf = (LaunchConfiguration(name).perform(context) for name in ("urdf", "srdf"))
    urdf, srdf = (str(Path(p).resolve()) if p else "" for p in (urdf, srdf))
    if not urdf:
        from flash_core.planning.description import write_robot_description
        from flash_core.utils.cache import cache_dir

        urdf = str(write_robot_description(cache_dir("moveit", "default_mount"))["urdf"])
    moveit_config = (
        MoveItConfigsBuilder("gen3_leap", package_name=PACKAGE)
        .robot_description(file_path=urdf)  # an absolute path is used as is
        .robot_description_semantic(file_path=srdf or "config/gen3_leap.srdf")
        .robot_description_kinematics(file_path="config/kinematics.yaml")
        .joint_limits(file_path="config/joint_limits.yaml")
        .cartesian_limits(file_path="config/pilz_cartesian_limits.yaml")
        .trajectory_execution(file_path="config/moveit_controllers.yaml")
        .planning_pipelines(default_planning_pipeline="ompl", pipelines=["ompl", "pilz_industrial_motion_planner"])
        .to_moveit_configs()
    )
    return [Node(package="moveit_ros_move_group", executable="move_group", output="screen",
                 parameters=[moveit_config.to_dict()])]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("urdf", default_value="", description="Gen3 + LEAP URDF (default: generated)"),
        DeclareLaunchArgument("srdf", default_value="", description="its SRDF (default: this package's)"),
        OpaqueFunction(function=_move_group),
    ])
