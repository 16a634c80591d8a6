"""embodied-stack: a long-term semantic-forest memory and an early-exit VLA policy for ROS 2
robots, validated in simulation. The core library never imports ROS."""

from __future__ import annotations

__version__ = "0.1.0"
