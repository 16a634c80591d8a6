"""QoS profiles of every topic, chosen once (REP-2003, nav2 and ros2/demos conventions).

- ``SENSOR_PUB`` / ``SENSOR``: camera images, camera_info and odometry. Publishers are reliable
  (REP-2003: a sensor driver publishes with the system default, reliable, so that every
  subscriber matches); subscribers are best effort, keep last 5 (``qos_profile_sensor_data``),
  which matches both reliable and best-effort publishers. A reliable subscriber would not match
  a best-effort driver, so our nodes never subscribe reliably to sensor streams.
- ``LATCHED``: state that a late subscriber needs at once (plan, active subgoal, planner
  status, memory markers and stats, the simulator's instance table): reliable,
  transient-local, keep last 1. A transient-local subscriber does not match a volatile
  publisher, so only our own latched publishers are subscribed to this way.
- ``OBSERVATIONS``: object observations, reliable, volatile, keep last 100, deep enough that
  a burst (the sensing node re-publishing its whole track state) is not overwritten before the
  memory takes it. Volatile on both sides, so any external perception publisher matches; a
  late memory catches up from the sensing node's periodic re-publication instead.
- ``events(depth)``: commands and reports that must not be dropped (policy feedback, discrete
  actions, cmd_vel, exit statistics): reliable, volatile, keep last ``depth``.
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

SENSOR_PUB = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

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


OBSERVATIONS = events(100)
