"""Small hand-made scenes for the renderer, simulator and explorer tests (sizes chosen so the
expected depths and collisions can be worked out by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embodied_stack.sim.scene import Scene

AWS_HOUSE = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "scene_aws_small_house"
             / "aws_small_house.scene.json")


def _scene(rooms: list[dict[str, Any]], doors: list[dict[str, Any]], objects: list[dict[str, Any]]) -> Scene:
    return Scene.from_dict({"format": "embodied-stack.scene/1", "name": "test", "rooms": rooms,
                            "doors": doors, "objects": objects})


def hall_scene(objects: list[dict[str, Any]] | None = None) -> Scene:
    """One empty room 4 m deep (x 0..4) and 10 m wide (y -5..5), ceiling 2.6 m."""
    room = {"id": "hall_1", "category": "hallway", "polygon": [[0, -5], [4, -5], [4, 5], [0, 5]],
            "floor_z": 0.0, "ceiling_z": 2.6}
    return _scene([room], [], objects or [])


def box(obj_id: str, category: str, center: list[float], size: list[float], yaw: float = 0.0,
        room: str = "hall_1") -> dict[str, Any]:
    return {"id": obj_id, "category": category, "room": room, "center": center, "size": size, "yaw": yaw,
            "color": [0.8, 0.2, 0.2]}


def two_rooms() -> Scene:
    """Two 4 x 4 m rooms side by side (x 0..4 and 4..8), a 1 m door at (4, 2), a few objects."""
    rooms = [
        {"id": "kitchen_1", "category": "kitchen", "polygon": [[0, 0], [4, 0], [4, 4], [0, 4]]},
        {"id": "bedroom_1", "category": "bedroom", "polygon": [[4, 0], [8, 0], [8, 4], [4, 4]]},
    ]
    doors = [{"rooms": ["kitchen_1", "bedroom_1"], "center": [4.0, 2.0], "width": 1.0}]
    objects = [
        box("fridge_1", "fridge", [0.4, 3.5, 0.9], [0.6, 0.6, 1.8], room="kitchen_1"),
        box("table_1", "table", [2.0, 1.0, 0.375], [1.2, 0.8, 0.75], room="kitchen_1"),
        box("bed_1", "bed", [7.0, 3.0, 0.3], [1.6, 2.0, 0.6], room="bedroom_1"),
        box("shelf_1", "wall shelf", [7.85, 1.0, 1.7], [0.2, 1.0, 0.4], room="bedroom_1"),
    ]
    return _scene(rooms, doors, objects)
