"""QoS profiles shared by FLASH's nodes."""

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

# "Latched" topics (a scene, the last result): the publisher keeps the last message and a subscriber that
# joins later still receives it. Subscribers must use the same profile, or they get nothing from the past.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
