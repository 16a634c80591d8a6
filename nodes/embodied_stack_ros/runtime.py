"""Start, spin and stop a node the same way everywhere (ros2/examples style).

``main(args=None)`` of each node calls :func:`run_node`: Ctrl-C and an external shutdown end
it cleanly (exit code 0); invalid parameters are logged as fatal and end it with exit code 1.
"""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from embodied_stack_ros.errors import ParameterError


def run_node(factory: Callable[[], Node], name: str, args: list[str] | None = None, *,
             multithreaded: bool = False) -> None:
    """Create the node with ``factory`` and spin it until shutdown.

    Args:
        factory: builds the node (after ``rclpy.init``).
        name: the node's name, for the fatal log when construction fails.
        args: command-line arguments for ``rclpy.init`` (ROS remappings, ``--ros-args``).
        multithreaded: spin a MultiThreadedExecutor (needed when a callback waits on another
            callback, as the planner's action waits on a service response).
    """
    rclpy.init(args=args)
    node: Node | None = None
    try:
        node = factory()
        executor = MultiThreadedExecutor() if multithreaded else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ParameterError as err:
        rclpy.logging.get_logger(name).fatal(str(err))
        raise SystemExit(1) from err
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
