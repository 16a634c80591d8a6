"""Every conversion between core objects and ROS messages, as ``x_to_ros`` / ``x_from_ros`` pairs,
one module per message family:

- :mod:`.base`: message classes by name (:func:`ros_type`, :func:`set_type_resolver`), time, headers;
- :mod:`.geometry`: points, poses, transforms, velocity commands, odometry (geometry and tf);
- :mod:`.camera`: images, camera info, the simulator's instance table;
- :mod:`.vision`: vision_msgs Detection2DArray / Detection3DArray from a robot's own detector;
- :mod:`.memory`: observations, memory hits, query kinds, memory statistics;
- :mod:`.planning`: subgoals, plans, feedback, planner status, discrete actions, exit statistics.

Pure functions: no node, no clock, no rclpy. Messages are built with keyword arguments only and
with plain Python scalars and lists, which is what rclpy's generated setters accept. This
package re-exports every pair, so ``conversions.pose2d_to_ros`` works as before the split.
"""

from __future__ import annotations

from embodied_stack_ros.conversions.base import *  # noqa: F403
from embodied_stack_ros.conversions.camera import *  # noqa: F403
from embodied_stack_ros.conversions.geometry import *  # noqa: F403
from embodied_stack_ros.conversions.memory import *  # noqa: F403
from embodied_stack_ros.conversions.planning import *  # noqa: F403
from embodied_stack_ros.conversions.vision import *  # noqa: F403
