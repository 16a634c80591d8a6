"""The semantic forest as a ``visualization_msgs/MarkerArray`` for RViz (built without ROS).

Layout: leaves (objects) are spheres at their real position with a small label; clusters are
drawn as layers above the floor plan, level ``k`` at ``CLUSTER_BASE_Z_M + (k - 1) *
CLUSTER_STEP_Z_M``, each as a label, the outline of its region's box and lines down to its
children, so the hierarchy reads from the side and the regions from above. Every update starts
with a DELETEALL marker, so ids are simply positions in the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from embodied_stack_ros.conversions import point_to_ros, pose7_to_ros, ros_type, vector3_to_ros

CLUSTER_BASE_Z_M = 2.8
CLUSTER_STEP_Z_M = 1.2
LEAF_COLOR = (0.2, 0.8, 0.3, 0.9)
LEVEL_COLORS = ((0.2, 0.5, 1.0, 0.9), (1.0, 0.6, 0.1, 0.9), (0.7, 0.3, 0.9, 0.9), (0.9, 0.2, 0.2, 0.9))
TEXT_COLOR = (1.0, 1.0, 1.0, 1.0)
IDENTITY = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
ADD, DELETEALL = 0, 3
SPHERE_LIST, LINE_LIST, TEXT_VIEW_FACING = 7, 5, 9


def display_z(level: int, z_m: float) -> float:
    """Height a node is drawn at: leaves where they are, clusters on their level's layer."""
    return z_m if level == 0 else CLUSTER_BASE_Z_M + (level - 1) * CLUSTER_STEP_Z_M


def _color(rgba: Sequence[float]) -> Any:
    r, g, b, a = (float(v) for v in rgba)
    return ros_type("std_msgs/msg/ColorRGBA")(r=r, g=g, b=b, a=a)


def _marker(header: Any, ns: str, marker_id: int, kind: int, scale: float, rgba: Sequence[float], **fields: Any) -> Any:
    fields.setdefault("pose", pose7_to_ros(IDENTITY))
    return ros_type("visualization_msgs/msg/Marker")(
        header=header, ns=ns, id=marker_id, type=kind, action=ADD,
        scale=vector3_to_ros((scale, scale, scale)), color=_color(rgba), **fields,
    )


def _box_outline(lo: Sequence[float], hi: Sequence[float], z: float) -> list[tuple[float, float, float]]:
    corners = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]
    points = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        points += [(x0, y0, z), (x1, y1, z)]
    return points


def forest_markers(nodes: Iterable[Any], header: Any) -> Any:
    """``MarkerArray`` of the forest.

    Args:
        nodes: node views to draw (``embodied_stack.memory.results.NodeView``: node_id, level,
            name, position, bbox_min, bbox_max, children); the caller limits the number of
            leaves (RViz slows down beyond a few thousand labels).
        header: the ``std_msgs/Header`` every marker carries (frame ``map``, the current stamp).
    """
    views = list(nodes)
    leaves = [v for v in views if v.level == 0]
    clusters = [v for v in views if v.level > 0]
    where = {v.node_id: (v.position[0], v.position[1], display_z(v.level, v.position[2])) for v in leaves + clusters}
    markers = [ros_type("visualization_msgs/msg/Marker")(header=header, action=DELETEALL)]
    if leaves:
        markers.append(_marker(header, "leaves", 0, SPHERE_LIST, 0.15, LEAF_COLOR,
                               points=[point_to_ros(where[v.node_id]) for v in leaves]))
    for index, view in enumerate(leaves):
        x, y, z = where[view.node_id]
        markers.append(_marker(header, "leaf_labels", index, TEXT_VIEW_FACING, 0.12, TEXT_COLOR, text=view.name,
                               pose=pose7_to_ros((x, y, z + 0.2, *IDENTITY[3:]))))
    for index, view in enumerate(clusters):
        rgba = LEVEL_COLORS[(view.level - 1) % len(LEVEL_COLORS)]
        x, y, z = where[view.node_id]
        markers.append(_marker(header, f"level_{view.level}_labels", index, TEXT_VIEW_FACING, 0.25, rgba,
                               text=view.name, pose=pose7_to_ros((x, y, z + 0.25, *IDENTITY[3:]))))
        down = [p for child in view.children if child in where for p in ((x, y, z), where[child])]
        outline = _box_outline(view.bbox_min, view.bbox_max, z)
        markers.append(_marker(header, f"level_{view.level}_regions", index, LINE_LIST, 0.03, rgba,
                               points=[point_to_ros(p) for p in outline + down]))
    return ros_type("visualization_msgs/msg/MarkerArray")(markers=markers)
