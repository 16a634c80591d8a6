"""ROS 2 wrappers around the embodied-stack core: one node per module, all message conversion
in :mod:`embodied_stack_ros.conversions`, QoS profiles in :mod:`embodied_stack_ros.qos`,
parameter declaration and validation in :mod:`embodied_stack_ros.params`.

Only the ``*_node`` modules import rclpy; everything else is testable without ROS.
"""
