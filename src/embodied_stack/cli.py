"""The one console entry point, ``embodied-stack``, with subcommands.

Each subpackage contributes its subcommands through a ``register(groups)`` function in its own
``cli.py``; ``groups`` maps a group name (``memory``, ``sim``, ``eval``, ``bench``, ``policy``,
``export``, ``run``) to that group's subparsers, and ``""`` to the top level (for ``demo``).
A handler is set with ``parser.set_defaults(func=...)``; it takes the parsed arguments and
returns an exit code. Heavy imports happen inside handlers, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from embodied_stack import __version__
from embodied_stack.errors import EmbodiedStackError

GROUPS: dict[str, str] = {
    "memory": "build, query and inspect the semantic-forest memory",
    "sim": "scenes, rendering, episodes and recordings in the embedded simulator",
    "eval": "evaluate navigation, memory and tasks (prints JSON with --json)",
    "bench": "benchmarks that print JSON figures against a baseline measured in the same run",
    "policy": "train and calibrate the early-exit VLA policy",
    "export": "export models for edge runtimes (ONNX, int8)",
    "run": "run a task end to end in the embedded simulator",
}

REGISTRARS: tuple[str, ...] = (
    "embodied_stack.memory.cli",
    "embodied_stack.sim.cli",
    "embodied_stack.perception.cli",
    "embodied_stack.policy.cli",
    "embodied_stack.eval.nav_cli",
    "embodied_stack.eval.tasks_cli",
    "embodied_stack.deploy.cli",
    "embodied_stack.bags.cli",
    "embodied_stack.eval.memory_eval",
    "embodied_stack.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embodied-stack",
        description="A ROS 2 robot's long-term semantic memory and early-exit VLA policy, "
        "runnable without ROS in an embedded simulator.",
    )
    parser.add_argument("--version", action="version", version=f"embodied-stack {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {"": top}
    for name, help_text in GROUPS.items():
        group_parser = top.add_parser(name, help=help_text, description=help_text)
        groups[name] = group_parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
        group_parser.set_defaults(func=_group_help(group_parser))
    for module_name in REGISTRARS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                continue
            raise
        module.register(groups)
    return parser


def _group_help(parser: argparse.ArgumentParser):  # noqa: ANN202 - small closure
    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("embodied_stack").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except EmbodiedStackError as err:
        print(f"embodied-stack: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("embodied-stack: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
