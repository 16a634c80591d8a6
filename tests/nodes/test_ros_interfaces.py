"""The interface package parses, resolves and mirrors the core's enums, without ROS installed.

Every .msg/.srv/.action is parsed with rosbags' message parser (split on ``---``), registered
beside the standard Jazzy types, and every referenced type must resolve. rosbags is lenient
(it ignores trailing tokens and out-of-range constants), so each line is also checked against
the rosidl grammar rules our files use: lower snake-case field names, upper-case constant
names, primitive or ``package/Type`` field types, constant values in range, no duplicates.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    INT_RANGES,
    INTERFACES_DIR,
    PACKAGE,
    build_typestore,
    interface_files,
    interface_parts,
)
from rosbags.interfaces import Nodetype
from rosbags.typesys import get_types_from_msg

from embodied_stack.planning.types import FeedbackStatus, PlannerState, SubgoalStatus, SubgoalType
from embodied_stack.types import Action

PRIMITIVES = set(INT_RANGES) | {"bool", "float32", "float64", "string", "wstring"}
FIELD_NAME = re.compile(r"^(?!.*__)(?!.*_$)[a-z][a-z0-9_]*$")
CONSTANT_NAME = re.compile(r"^[A-Z](?:[A-Z0-9_]*[A-Z0-9])?$")
FIELD_TYPE = re.compile(r"^(?:(?P<package>[a-z][a-z0-9_]*)/)?(?P<name>[A-Za-z][A-Za-z0-9]*)(?P<array>\[\d*\])?$")
MESSAGE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# Names that break a generated C++ or Python binding.
RESERVED = {
    "and", "as", "assert", "async", "await", "break", "case", "catch", "class", "const", "continue", "def",
    "default", "del", "delete", "do", "double", "elif", "else", "enum", "except", "explicit", "false", "final",
    "float", "for", "from", "global", "goto", "if", "import", "in", "int", "is", "lambda", "long", "namespace",
    "new", "none", "nonlocal", "not", "operator", "or", "pass", "private", "protected", "public", "raise",
    "register", "return", "short", "signed", "sizeof", "static", "struct", "switch", "template", "this",
    "throw", "true", "try", "typedef", "typename", "union", "unsigned", "virtual", "void", "volatile",
    "while", "with", "yield",
}

FILES = interface_files()


def _check_rosidl_lines(name: str, text: str) -> list[str]:
    """Problems of one message part under the rosidl rules (empty list: fine)."""
    problems: list[str] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{name} line {lineno} {raw.strip()!r}"
        if "=" in line:
            match = re.fullmatch(r"(\S+)\s+([A-Za-z0-9_]+)\s*=\s*(\S+)", line)
            if not match:
                problems.append(f"{where}: not 'TYPE NAME=VALUE'")
                continue
            ctype, cname, value = match.groups()
            if ctype not in PRIMITIVES:
                problems.append(f"{where}: constant type must be primitive")
            if not CONSTANT_NAME.match(cname):
                problems.append(f"{where}: constant name must be UPPER_CASE")
            if ctype in INT_RANGES:
                low, high = INT_RANGES[ctype]
                if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
                    problems.append(f"{where}: value must be an integer in [{low}, {high}]")
            entry = cname
        else:
            tokens = line.split()
            if len(tokens) != 2:
                problems.append(f"{where}: expected 'TYPE name' (no default values)")
                continue
            ftype, fname = tokens
            match = FIELD_TYPE.match(ftype)
            if not match:
                problems.append(f"{where}: bad type {ftype!r}")
            elif match["package"] is None and match["name"] not in PRIMITIVES and not MESSAGE_NAME.match(match["name"]):
                problems.append(f"{where}: type must be a primitive or a CamelCase message")
            if not FIELD_NAME.match(fname):
                problems.append(f"{where}: field name must be lower_snake_case")
            if fname in RESERVED:
                problems.append(f"{where}: field name {fname!r} is a C++/Python keyword")
            entry = fname
        if entry in seen:
            problems.append(f"{where}: duplicate name {entry!r}")
        seen.add(entry)
    return problems


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_interface_file_parses_and_follows_rosidl_rules(path: Path) -> None:
    assert MESSAGE_NAME.match(path.stem), f"{path.name}: file name must be CamelCase"
    for name, text in interface_parts(path):
        parsed = get_types_from_msg(text, name)
        assert name in parsed
        declared = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
        declared = [ln for ln in declared if ln]
        consts, fields = parsed[name]
        assert len(consts) + len(fields) == len(declared), f"{name}: rosbags read fewer entries than declared"
        assert _check_rosidl_lines(name, text) == []


def test_rosidl_line_checker_rejects_what_rosbags_lets_through() -> None:
    assert _check_rosidl_lines("x", "uint8 kind = 3x") != []
    assert _check_rosidl_lines("x", "foo bar baz") != []
    assert _check_rosidl_lines("x", "uint8 K=300") != []
    assert _check_rosidl_lines("x", "uint8 camelCase") != []
    assert _check_rosidl_lines("x", "uint8 a\nstring a") != []
    assert _check_rosidl_lines("x", "int32 class") != []
    assert _check_rosidl_lines("x", "uint8 OK=3\nstd_msgs/Header header\nfloat32[] values") == []


def _unresolved(store: Any) -> list[str]:
    """``"Type.field: missing/Type"`` for every field of our types whose type is not registered."""
    missing = []
    for name in (n for n in store.fielddefs if n.startswith(f"{PACKAGE}/")):
        for field, (nodetype, detail) in store.fielddefs[name][1]:
            sub = detail[0] if nodetype in (Nodetype.ARRAY, Nodetype.SEQUENCE) else (nodetype, detail)
            if sub[0] == Nodetype.NAME and sub[1] not in store.fielddefs:
                missing.append(f"{name}.{field}: {sub[1]}")
    return missing


def test_every_referenced_type_resolves() -> None:
    store = build_typestore()
    ours = [name for name in store.fielddefs if name.startswith(f"{PACKAGE}/")]
    assert len(ours) == sum(len(interface_parts(p)) for p in FILES)
    assert _unresolved(store) == []


def test_an_unknown_type_is_caught() -> None:
    store = build_typestore()
    store.register(get_types_from_msg("NoSuchThing thing\ngeometry_msgs/Pointy p\n", f"{PACKAGE}/msg/Broken"))
    assert _unresolved(store) == [f"{PACKAGE}/msg/Broken.thing: {PACKAGE}/msg/NoSuchThing",
                                  f"{PACKAGE}/msg/Broken.p: geometry_msgs/msg/Pointy"]


def test_cmakelists_lists_exactly_the_interface_files() -> None:
    text = (INTERFACES_DIR / "CMakeLists.txt").read_text()
    listed = set(re.findall(r'"((?:msg|srv|action)/[A-Za-z0-9]+\.(?:msg|srv|action))"', text))
    on_disk = {f"{p.parent.name}/{p.name}" for p in FILES}
    assert listed == on_disk


def test_package_xml_declares_every_package_the_interfaces_use() -> None:
    root = ET.parse(INTERFACES_DIR / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == PACKAGE
    depends = {e.text for e in root if e.tag in ("depend", "build_depend", "exec_depend")}
    used = set()
    for path in FILES:
        used |= set(re.findall(r"^\s*([a-z][a-z0-9_]*)/[A-Z]", path.read_text(), flags=re.M))
    assert used <= depends, f"missing <depend>: {sorted(used - depends)}"
    cmake = (INTERFACES_DIR / "CMakeLists.txt").read_text()
    deps_line = re.search(r"DEPENDENCIES([^\n)]*)", cmake)
    assert deps_line and used <= set(deps_line.group(1).split())
    assert "rosidl_default_generators" in {e.text for e in root.iter("buildtool_depend")}
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    assert "action_msgs" in depends  # the ExecuteTask action needs it at build and run time


def _constants(store: object, name: str) -> dict[str, int]:
    return {c[0]: c[2] for c in store.fielddefs[f"{PACKAGE}/msg/{name}"][0]}  # type: ignore[attr-defined]


def _members(*enums: type[IntEnum]) -> dict[str, int]:
    return {m.name: int(m.value) for e in enums for m in e}


@pytest.mark.parametrize(
    ("message", "enums"),
    [
        ("Subgoal", (SubgoalType, SubgoalStatus)),
        ("SubgoalFeedback", (FeedbackStatus,)),
        ("PlannerStatus", (PlannerState,)),
        ("DiscreteAction", (Action,)),
    ],
)
def test_message_constants_mirror_core_enums(message: str, enums: tuple[type[IntEnum], ...]) -> None:
    assert _constants(build_typestore(), message) == _members(*enums)


def test_query_kind_constants_mirror_the_memory() -> None:
    from embodied_stack.memory.results import QueryKind

    constants = _constants(build_typestore(), "QueryMemory_Request")
    assert constants.pop("AUTO") == 0
    assert set(constants) == {k.name for k in QueryKind}
    assert sorted(constants.values()) == list(range(1, len(QueryKind) + 1))
