"""Start, spin and stop a node the same way everywhere (ros2/examples style, made Ctrl-C proof).

``main(args=None)`` of each node calls :func:`run_node`. rclpy's own signal handlers are off
(``SignalHandlerOptions.NO``): a SIGINT or SIGTERM only sets a flag, the executor is spun in
short ``spin_once`` slices that look at the flag, and then the node stops in order - its
``on_shutdown()`` runs while the context is still valid (the policy publishes a zero velocity,
the planner ends its task), the executor shuts down, the node is destroyed, rclpy shuts down.
From the first signal on, further SIGINTs are ignored, so a second Ctrl-C cannot interrupt
``destroy_node`` or the memory's store. Exit code 0; invalid parameters end it with 1.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from embodied_stack_ros.errors import ParameterError

SPIN_SLICE_S = 0.1
"""Longest time between two looks at the stop flag (s)."""
EXECUTOR_SHUTDOWN_S = 3.0
"""How long the executor may take to finish the callbacks in flight (s); launch escalates to
SIGTERM after 5 s."""


class StopFlag:
    """Set by SIGINT/SIGTERM (once: later signals are ignored) or by :meth:`set`."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.event.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def set(self) -> None:
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


def run_node(factory: Callable[[], Node], name: str, args: list[str] | None = None, *,
             multithreaded: bool = False, stop: StopFlag | None = None) -> None:
    """Create the node with ``factory`` and spin it until a signal, an external shutdown or ``stop``.

    Args:
        factory: builds the node (after ``rclpy.init``).
        name: the node's name, for the fatal log when construction fails.
        args: command-line arguments for ``rclpy.init`` (ROS remappings, ``--ros-args``).
        multithreaded: spin a MultiThreadedExecutor (callbacks in different callback groups run
            in parallel: the planner's action waits on a service response, the memory answers
            queries while it ingests).
        stop: the flag to watch (tests set it); default: a new one installed for SIGINT and SIGTERM.
    """
    flag = stop or StopFlag()
    if stop is None:
        signal.signal(signal.SIGINT, flag)
        signal.signal(signal.SIGTERM, flag)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node: Any = None
    executor: Any = None
    code = 0
    try:
        node = factory()
        executor = MultiThreadedExecutor() if multithreaded else SingleThreadedExecutor()
        executor.add_node(node)
        while not flag.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_SLICE_S)
    except ExternalShutdownException:
        pass
    except ParameterError as err:
        rclpy.logging.get_logger(name).fatal(str(err))
        code = 1
    finally:
        flag.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop(node, executor)
        rclpy.try_shutdown()
    if code:
        raise SystemExit(code)


def _stop(node: Any, executor: Any) -> None:
    if node is not None and hasattr(node, "on_shutdown"):
        node.on_shutdown()
    if executor is not None:
        executor.shutdown(timeout_sec=EXECUTOR_SHUTDOWN_S)
    if node is not None:
        node.destroy_node()
