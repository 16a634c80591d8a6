"""ament_python package of the embodied-stack ROS 2 nodes.

The launch files, parameter files and the RViz config live in the repository's top-level
``launch/`` folder and the shipped scenes in ``sim/scenes``; ``nodes/launch`` and
``nodes/scenes`` are relative symlinks to them, so the globs below (relative to this file's
folder, which is where colcon runs setup.py, with or without --symlink-install) install them
under ``share/embodied_stack_ros/{launch,params,rviz,scenes}``.

The core library is the pip distribution ``embodied-stack``; it is not listed in
``install_requires`` because setuptools would try to download it during ``colcon build``.
Install it into the Python that runs ROS first (docs/ros.md).
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "embodied_stack_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py"))),
        (f"share/{PACKAGE}/params", sorted(glob("launch/params/*.yaml"))),
        (f"share/{PACKAGE}/rviz", sorted(glob("launch/rviz/*.rviz"))),
        (f"share/{PACKAGE}/scenes", sorted(glob("scenes/*.scene.json"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="embodied-stack developers",
    maintainer_email="embodied-stack@users.noreply.github.com",
    description="ROS 2 nodes of embodied-stack: sensing, memory, planner, policy, simulator bridge",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"sensing = {PACKAGE}.sensing_node:main",
            f"memory = {PACKAGE}.memory_node:main",
            f"planner = {PACKAGE}.planner_node:main",
            f"policy = {PACKAGE}.policy_node:main",
            f"sim_bridge = {PACKAGE}.sim_bridge_node:main",
        ],
    },
)
