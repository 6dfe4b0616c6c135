"""FLASH on the real robot: Kinova Gen3 (ros2_kortex), LEAP hand, perception, grasp server and pick node.

    ros2 launch flash_bringup real_robot.launch.py robot_ip:=192.168.1.10 \
        checkpoint:=/path/to/flash_checkpoint hand_port:=/dev/ttyUSB0 cloud_topic:=/camera/depth/points

Needs ROS 2 Jazzy with ros2_kortex (`ros-jazzy-kortex-bringup`); `ros2 launch` is not on PyPI.
Set use_fake_hardware:=true to run the arm on ros2_control's mock hardware and the hand on the
driver's in-memory bus (see mock_hardware.launch.py).
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("robot_ip", description="IP address of the Gen3"),
        DeclareLaunchArgument("use_fake_hardware", default_value="false",
                              description="mock arm hardware and an in-memory hand bus"),
        DeclareLaunchArgument("checkpoint", description="FLASH checkpoint folder"),
        DeclareLaunchArgument("hand_port", default_value="/dev/ttyUSB0", description="LEAP hand serial port"),
        DeclareLaunchArgument("launch_rviz", default_value="true"),
        DeclareLaunchArgument("cloud_topic", default_value="points",
                              description="the depth camera's sensor_msgs/PointCloud2 (any frame in tf)"),
    ]
    config = lambda name: PathJoinSubstitution([FindPackageShare("flash_bringup"), "config", name])  # noqa: E731
    fake = LaunchConfiguration("use_fake_hardware")

    # kortex_control.launch.py rather than gen3.launch.py: the latter only allows Kinova's grippers,
    # and the LEAP hand is driven by its own node, not by the arm's controller manager.
    arm = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("kortex_bringup"), "launch", "kortex_control.launch.py"])),
        launch_arguments={
            "robot_type": "gen3",
            "dof": "7",
            "robot_ip": LaunchConfiguration("robot_ip"),
            "gripper": '""',
            "use_internal_bus_gripper_comm": "false",
            "use_fake_hardware": fake,
            "launch_rviz": LaunchConfiguration("launch_rviz"),
        }.items(),
    )
    hand = Node(
        package="leap_hand_driver", executable="leap_hand_driver", name="leap_hand_driver",
        namespace="leap_hand", output="screen",
        parameters=[config("leap_hand_driver.yaml"),
                    {"port": LaunchConfiguration("hand_port"), "use_fake_hardware": fake}],
    )
    # Publishes the target object's cloud on the topic the grasp server reads (object_topic in both files).
    perception = Node(
        package="flash_perception", executable="perception", name="flash_perception", output="screen",
        parameters=[config("perception.yaml"), {"cloud_topic": LaunchConfiguration("cloud_topic")}],
    )
    grasp_server = Node(
        package="flash_grasp_server", executable="grasp_server", name="flash_grasp_server", output="screen",
        parameters=[config("grasp_server.yaml"), {"checkpoint": LaunchConfiguration("checkpoint")}],
    )
    pick = Node(
        package="flash_motion", executable="pick_node", name="flash_motion", output="screen",
        parameters=[config("flash_motion.yaml")],
    )
    # Camera extrinsics (and any other fixed frame) from config/static_frames.yaml.
    frames = Node(
        package="flash_ros", executable="static_frames", name="static_frames", output="screen",
        parameters=[config("static_frames.yaml")],
    )
    return LaunchDescription(args + [arm, hand, frames, perception, grasp_server, pick])
