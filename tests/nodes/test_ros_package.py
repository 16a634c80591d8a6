"""The ament_python package is complete: entry points, package.xml dependencies, installed
data (launch, params, rviz through the `launch` symlink), workspace links, launch arguments.

Checked by reading the files (ROS is not needed); tests/ros/ builds and runs them where it is.
"""

from __future__ import annotations

import ast
import importlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from conftest import NODES_DIR, REPO

PACKAGE_DIR = NODES_DIR / "embodied_stack_ros"
LAUNCH_DIR = REPO / "launch"
NODE_MODULES = sorted(p.stem for p in PACKAGE_DIR.glob("*_node.py"))
ROS_ONLY = {"qos", "runtime", "nav2_navigator", *NODE_MODULES}
PURE_MODULES = sorted(p.stem for p in PACKAGE_DIR.glob("*.py") if p.stem not in ROS_ONLY and p.stem != "__init__")
# Python module -> rosdep key, for modules that are not ROS packages of the same name.
ROSDEP = {"numpy": "python3-numpy"}
STDLIB_OR_PIP = {"embodied_stack", "embodied_stack_ros", "__future__"}


def _setup_call() -> dict[str, ast.expr]:
    tree = ast.parse((NODES_DIR / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    return {kw.arg: kw.value for kw in call.keywords if kw.arg}


def _imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_logic_modules_import_without_ros(module: str) -> None:
    importlib.import_module(f"embodied_stack_ros.{module}")


def test_every_node_has_a_console_script_and_a_main() -> None:
    assert "entry_points" in _setup_call()
    assert len(NODE_MODULES) == 5
    for module in NODE_MODULES:
        tree = ast.parse((PACKAGE_DIR / f"{module}.py").read_text())
        main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
        assert [a.arg for a in main.args.args] == ["args"] and isinstance(main.args.defaults[0], ast.Constant)
    text = (NODES_DIR / "setup.py").read_text()
    for module in NODE_MODULES:
        assert f'f"{module.removesuffix("_node")} = {{PACKAGE}}.{module}:main"' in text, module


def test_package_xml_lists_every_ros_package_the_code_imports() -> None:
    root = ET.parse(NODES_DIR / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "embodied_stack_ros"
    assert root.find("export/build_type").text == "ament_python"  # type: ignore[union-attr]
    exec_deps = {e.text for e in root if e.tag in ("exec_depend", "depend")}
    used: set[str] = set()
    for path in [*PACKAGE_DIR.glob("*.py"), *LAUNCH_DIR.glob("*.launch.py")]:
        used |= _imported_packages(path)
    import sys

    third_party = {m for m in used if m not in STDLIB_OR_PIP and m not in sys.stdlib_module_names}
    needed = {ROSDEP.get(m, m) for m in third_party}
    assert needed <= exec_deps, f"missing <exec_depend>: {sorted(needed - exec_deps)}"
    assert "rviz2" in exec_deps  # sim.launch.py starts it


def test_data_files_install_launch_params_and_rviz() -> None:
    assert (NODES_DIR / "launch").is_symlink() and (NODES_DIR / "launch").resolve() == LAUNCH_DIR.resolve()
    assert (NODES_DIR / "resource" / "embodied_stack_ros").is_file()
    text = (NODES_DIR / "setup.py").read_text()
    assert (NODES_DIR / "scenes").is_symlink() and (NODES_DIR / "scenes").resolve() == (REPO / "sim" / "scenes").resolve()
    for pattern, minimum in (("launch/*.launch.py", 3), ("launch/params/*.yaml", 1), ("launch/rviz/*.rviz", 1),
                             ("scenes/*.scene.json", 1)):
        assert f'glob("{pattern}")' in text
        assert len(list(NODES_DIR.glob(pattern))) >= minimum, pattern
    cfg = (NODES_DIR / "setup.cfg").read_text()
    assert "script_dir=$base/lib/embodied_stack_ros" in cfg and "install_scripts=$base/lib/embodied_stack_ros" in cfg


def test_the_workspace_links_the_ros_package() -> None:
    link = REPO / "ros_ws" / "src" / "embodied_stack_ros"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == NODES_DIR.resolve()


def _launch_arguments(path: Path) -> dict[str, str]:
    args = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument":
            name = ast.literal_eval(node.args[0])
            keywords = {kw.arg: kw.value for kw in node.keywords}
            description = keywords.get("description")
            args[name] = ast.literal_eval(description) if description is not None else ""
    return args


@pytest.mark.parametrize("name", ["sim", "robot", "memory"])
def test_launch_files_declare_described_standard_arguments(name: str) -> None:
    args = _launch_arguments(LAUNCH_DIR / f"{name}.launch.py")
    assert {"namespace", "use_sim_time", "params_file"} <= set(args)
    assert all(len(d) > 10 for d in args.values()), {k: v for k, v in args.items() if len(v) <= 10}
    executables = set(re.findall(r'executable="([a-z_0-9]+)"', (LAUNCH_DIR / f"{name}.launch.py").read_text()))
    executables |= set(re.findall(r'node\("([a-z_]+)"', (LAUNCH_DIR / f"{name}.launch.py").read_text()))
    assert executables - {"rviz2"} <= {m.removesuffix("_node") for m in NODE_MODULES}


def test_the_default_simulated_scene_is_shipped_and_loads() -> None:
    from embodied_stack.sim.scene import load_scene

    name = re.search(r'DEFAULT_SCENE = "([^"]+)"', (LAUNCH_DIR / "sim.launch.py").read_text())
    assert name is not None
    scene = load_scene(REPO / "sim" / "scenes" / name.group(1))
    assert scene.objects


def test_robot_launch_remaps_the_robot_topics() -> None:
    args = _launch_arguments(LAUNCH_DIR / "robot.launch.py")
    assert {"color_topic", "depth_topic", "camera_info_topic", "odom_topic", "cmd_vel_topic"} <= set(args)
    assert "rviz" in _launch_arguments(LAUNCH_DIR / "sim.launch.py")


def test_rviz_config_shows_the_stack() -> None:
    config = yaml.safe_load((LAUNCH_DIR / "rviz" / "embodied_stack.rviz").read_text())
    displays = {d["Class"]: d for d in config["Visualization Manager"]["Displays"]}
    topics = {d["Topic"]["Value"]: d["Topic"] for d in displays.values() if "Topic" in d}
    assert {"rviz_default_plugins/TF", "rviz_default_plugins/MarkerArray", "rviz_default_plugins/Image"} <= set(displays)
    assert {"/memory/markers", "/planner/target_pose", "/camera/color/image_raw", "/odom"} <= set(topics)
    assert topics["/memory/markers"]["Durability Policy"] == "Transient Local"
    assert topics["/camera/color/image_raw"]["Reliability Policy"] == "Best Effort"
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "map"
