"""FLASH against a simulator speaking the Isaac Sim ROS 2 topics: flash_sim's MuJoCo world (backend:=mujoco)
or an Isaac Sim / IsaacLab scene with its ROS 2 bridge (backend:=isaaclab: no simulator node is started), the
trajectory servers for arm and hand, perception, the grasp server and the pick node, all on sim time.

    ros2 launch flash_bringup sim.launch.py [backend:=mujoco] [scene:=tabletop] [object:=mug] [rviz:=true]

The nodes and parameters are config/graph.yaml's `sim` mode, which `flash bringup sim` runs without ros2 launch.
"""

from flash_bringup.launch_actions import graph_launch_description


def generate_launch_description():
    return graph_launch_description("sim")
