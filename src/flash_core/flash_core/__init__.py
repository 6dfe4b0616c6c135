"""FLASH core: language-conditioned dexterous grasp synthesis without ROS.

Rooms (one concept per subpackage):
    assets    robot and object models fetched from package registries
    hands     hand models, kinematics, live hand point clouds
    geometry  rotations, point-cloud kernels, signed distance, mesh repair
    model     the FLASH flow-matching network
    flow      flow-matching paths and ODE solvers
    data      FLASH-Drive data set building and loading
    motors    Dynamixel bus for the LEAP hand
    planning  Gen3 motion planning
    sim       MuJoCo simulation
"""

__version__ = "0.1.0"
