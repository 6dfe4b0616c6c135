"""ROS 2 shell around flash_core.planning: grasp + object cloud in, FollowJointTrajectory goals out."""
