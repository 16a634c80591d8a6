"""Message classes for the rclpy stand-in (ros_fakes.py): the real generated ones where a ROS 2
workspace is sourced, else classes built with rosbags from the real interface definitions that
check field types on construction and assignment as rclpy's generated setters do."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from conftest import HAVE_ROS, HAVE_ROSBAGS, RosbagsMessages, build_typestore


class FakeMessage:
    """Base of the generated message classes (keyword construction, checked assignment)."""

    __msgtype__ = ""
    _registry: RosbagsMessages
    _fields: dict[str, Any] = {}

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self._fields)
        if unknown:
            raise TypeError(f"Invalid arguments passed to constructor of {self.__msgtype__}: {sorted(unknown)}")
        for name, spec in self._fields.items():
            setattr(self, name, kwargs[name] if name in kwargs else self._registry.default(spec))

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._fields:
            raise AttributeError(f"{self.__msgtype__} has no field {name!r}")
        self._registry.check(value, self._fields[name], f"{self.__msgtype__}.{name}")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, f) == getattr(other, f) for f in self._fields)

    def __repr__(self) -> str:
        return f"{self.__msgtype__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields)})"


class FakeTypes(RosbagsMessages):
    """name -> generated FakeMessage subclass (cached)."""

    def __init__(self) -> None:
        super().__init__(build_typestore())
        self._classes: dict[str, type] = {}

    def __call__(self, name: str) -> Any:  # type: ignore[override]
        if name not in self._classes:
            consts, fields = self.store.fielddefs[name]
            attrs = {"__msgtype__": name, "_registry": self, "_fields": dict(fields)}
            attrs.update({c[0]: c[2] for c in consts})
            self._classes[name] = type(name.rsplit("/", 1)[-1], (FakeMessage,), attrs)
        return self._classes[name]

    def modules(self) -> dict[str, types.ModuleType]:
        """Fake ``pkg.msg`` / ``pkg.srv`` / ``pkg.action`` modules of every registered type."""
        mods: dict[str, types.ModuleType] = {}

        def module(name: str) -> types.ModuleType:
            if name not in mods:
                mods[name] = types.ModuleType(name)
                parent = name.rsplit(".", 1)[0]
                if parent != name:
                    setattr(module(parent), name.rsplit(".", 1)[1], mods[name])
            return mods[name]

        for name in self.store.fielddefs:
            package, _, cls = name.split("/")
            for suffixes, kind in ((("_Request", "_Response"), "srv"), (("_Goal", "_Result", "_Feedback"), "action")):
                base = next((cls[: -len(s)] for s in suffixes if cls.endswith(s)), None)
                if base is not None:
                    holder = getattr(module(f"{package}.{kind}"), base, None) or type(base, (), {})
                    setattr(holder, cls[len(base) + 1:], self(name))
                    setattr(module(f"{package}.{kind}"), base, holder)
            setattr(module(f"{package}.msg"), cls, self(name))
        mods.setdefault("action_msgs.msg", types.ModuleType("action_msgs.msg"))
        mods["action_msgs.msg"].GoalStatus = GoalStatus
        return mods


def message_types() -> tuple[Callable[[str], Any], dict[str, types.ModuleType]]:
    """``(name -> class, fake message modules to install)``: the real classes where ROS is
    sourced (nothing to install), rosbags-built ones otherwise."""
    if HAVE_ROS:
        from conftest import rclpy_types

        return rclpy_types, {}
    if not HAVE_ROSBAGS:
        import pytest

        pytest.skip("the rclpy stand-in needs rosbags (or a sourced ROS 2) for message classes")
    fake_types = FakeTypes()
    return fake_types, fake_types.modules()


class GoalStatus:
    """action_msgs/msg/GoalStatus constants."""

    STATUS_UNKNOWN, STATUS_ACCEPTED, STATUS_EXECUTING, STATUS_CANCELING = 0, 1, 2, 3
    STATUS_SUCCEEDED, STATUS_CANCELED, STATUS_ABORTED = 4, 5, 6
