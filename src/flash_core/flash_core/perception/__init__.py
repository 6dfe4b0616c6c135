"""Depth-camera perception without ROS: a scene cloud in the robot base frame -> the table, the objects on it, and
the target object's cloud (points and normals) for the grasp generator."""
