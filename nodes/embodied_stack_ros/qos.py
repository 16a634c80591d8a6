"""QoS profiles of every topic, chosen once (nav2 and ros2/demos conventions).

- ``SENSOR``: camera images, camera_info and odometry: best effort, keep last 5, volatile
  (rclpy's ``qos_profile_sensor_data``). A reliable publisher matches it; a reliable
  subscriber does not match a best-effort publisher, so RViz displays are set to best effort.
- ``LATCHED``: state that a late subscriber needs at once (plan, active subgoal, planner
  status, memory markers and stats, the simulator's instance table): reliable,
  transient-local, keep last 1.
- ``EVENTS``: commands and reports that must not be dropped (observations, policy feedback,
  discrete actions, cmd_vel, exit statistics): reliable, volatile, keep last ``depth``.
- ``CLOCK``: /clock published reliable, keep last 1 (matches rclpy's and rclcpp's
  best-effort /clock subscribers).
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

SENSOR = qos_profile_sensor_data

LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

CLOCK = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


def events(depth: int = 10) -> QoSProfile:
    """Reliable, volatile, keep last ``depth``."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )
