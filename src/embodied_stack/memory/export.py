"""Export the forest for inspection: JSON (every node and edge) and GraphML (via networkx).

Exports are for people and tools to look at; they are never read back as a memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from embodied_stack.memory.errors import StoreError
from embodied_stack.memory.results import MemoryStats, NodeView

EXPORT_FORMAT = "embodied-stack.memory-export/1"


class Exportable(Protocol):
    """A memory whose nodes and leaves can be listed (what the exporters read)."""

    def stats(self) -> MemoryStats: ...

    def iter_leaves(self) -> Iterator[NodeView]: ...

    def iter_nodes(self, level: int | None = None) -> Iterator[NodeView]: ...


def _views(memory: Exportable) -> list[dict]:
    out = []
    for view in (*memory.iter_nodes(), *memory.iter_leaves()):
        data = asdict(view)
        for key in ("position", "bbox_min", "bbox_max"):
            data[key] = [round(v, 4) for v in data[key]]
        out.append(data)
    return out


def export_json(memory: Exportable, path: Path) -> Path:
    """Write ``{"format", "stats", "nodes": [...], "edges": [[parent, child], ...]}``."""
    views = _views(memory)
    edges = [[view["node_id"], child] for view in views for child in view["children"]]
    document = {"format": EXPORT_FORMAT, "stats": memory.stats().to_dict(), "nodes": views, "edges": edges}
    try:
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    except OSError as err:
        raise StoreError(f"{path}: cannot write the export ({err.strerror})") from err
    return path


def export_graphml(memory: Exportable, path: Path) -> Path:
    """Write a GraphML graph: one vertex per node and leaf (scalar attributes), parent -> child edges."""
    import networkx as nx

    graph = nx.DiGraph()
    for view in _views(memory):
        attrs = {
            "level": view["level"], "name": view["name"], "summary": view["summary"],
            "x": view["position"][0], "y": view["position"][1], "z": view["position"][2],
            "count": view["count"], "category": view["category"] or "", "room": view["room"] or "",
        }
        if view["last_seen"] is not None:
            attrs["first_seen"] = view["first_seen"]
            attrs["last_seen"] = view["last_seen"]
        graph.add_node(view["node_id"], **attrs)
        for child in view["children"]:
            graph.add_edge(view["node_id"], child)
    try:
        nx.write_graphml(graph, str(path))
    except OSError as err:
        raise StoreError(f"{path}: cannot write the export ({err.strerror})") from err
    return path
