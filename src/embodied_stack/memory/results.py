"""What the memory returns: ingest reports, query results and hits, statistics, node views."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from embodied_stack.memory.nodes import ZONE
from embodied_stack.memory.state import MemoryState
from embodied_stack.types import Pose2D


class QueryKind(str, Enum):
    """The kinds of question (Embodied-RAG's three plus ReMEmbR-style time questions)."""

    EXPLICIT = "explicit"  # names the thing: "where is the red mug?"
    IMPLICIT = "implicit"  # names a need: "somewhere to take a nap"
    GLOBAL = "global"  # about a region or the whole place: "which room would I cook in?"
    TEMPORAL = "temporal"  # about when: "when did you last see the red mug?"


@dataclass(frozen=True)
class RejectedObservation:
    index: int
    reason: str


@dataclass
class IngestReport:
    """Counts of one ``ingest`` call."""

    accepted: int = 0
    merged: int = 0
    new_leaves: int = 0
    rejected: list[RejectedObservation] = field(default_factory=list)
    batches: int = 0
    texts_embedded: int = 0
    nodes_changed: int = 0
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = [{"index": r.index, "reason": r.reason} for r in self.rejected]
        return data


@dataclass(frozen=True)
class MemoryHit:
    """One ranked answer: a leaf (level 0) or a parent node, with where to go to see it.

    ``position`` is the thing's centre (leaf) or a member inside the region (parent), ``map``
    frame, metres. ``target_pose`` is where the robot should stand: a reachable standoff point
    when a navigable map is known, with a yaw facing the thing. ``ancestors`` lists
    (node_id, name) from the parent up to the root.
    """

    node_id: str
    name: str
    text: str
    level: int
    score: float
    position: tuple[float, float, float]
    target_pose: Pose2D
    category: str | None = None
    ancestors: list[tuple[str, str]] = field(default_factory=list)
    first_seen: float | None = None
    last_seen: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id, "name": self.name, "text": self.text, "level": self.level,
            "score": round(self.score, 6), "position": list(self.position),
            "target_pose": {"x": self.target_pose.x, "y": self.target_pose.y, "yaw": self.target_pose.yaw},
            "category": self.category, "ancestors": [list(a) for a in self.ancestors],
            "first_seen": self.first_seen, "last_seen": self.last_seen,
        }


@dataclass
class QueryResult:
    answer: str
    kind: QueryKind
    hits: list[MemoryHit]
    latency_s: float = 0.0
    mode: str = "forest"
    query: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "kind": self.kind.value, "mode": self.mode, "answer": self.answer,
                "latency_s": self.latency_s, "hits": [h.to_dict() for h in self.hits]}


@dataclass
class MemoryStats:
    leaves: int
    nodes: int
    nodes_per_level: dict[int, int]
    levels: int
    observations: int
    categories: int
    rooms: int
    embedder: str
    dim: int
    index: str
    generation: int = 0
    store: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["nodes_per_level"] = {str(k): v for k, v in self.nodes_per_level.items()}
        return data


@dataclass(frozen=True)
class NodeView:
    """A read-only view of a node for drawing (RViz markers, maps) and export.

    ``bbox_min``/``bbox_max``: the axis-aligned box of everything under the node (leaves: the
    object's own box), ``map`` frame. ``children``: ids of the nodes (or leaves) below.
    """

    node_id: str
    level: int
    name: str
    summary: str
    position: tuple[float, float, float]
    bbox_min: tuple[float, float, float]
    bbox_max: tuple[float, float, float]
    children: list[str]
    parent: str | None
    category: str | None = None
    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    room: str | None = None


def leaf_id(index: int) -> str:
    return f"L{index}"


def node_id(index: int) -> str:
    return f"N{index}"


def leaf_view(memory: MemoryState, index: int) -> NodeView:
    """A leaf as a view (level 0)."""
    leaves = memory.leaves
    pos, half = leaves.position[index], leaves.extent[index] / 2.0
    zone = int(memory.forest.leaf_parent[index]) if index < len(memory.forest.leaf_parent) else -1
    room = int(leaves.room[index])
    return NodeView(
        node_id=leaf_id(index), level=0, name=memory.vocab.categories[int(leaves.category[index])],
        summary=memory.vocab.captions[int(leaves.caption[index])], position=tuple(pos.tolist()),
        bbox_min=tuple((pos - half).tolist()), bbox_max=tuple((pos + half).tolist()), children=[],
        parent=node_id(zone) if zone >= 0 else None, category=memory.vocab.categories[int(leaves.category[index])],
        count=int(leaves.count[index]), first_seen=float(leaves.first_seen[index]),
        last_seen=float(leaves.last_seen[index]), room=memory.vocab.rooms[room] if room >= 0 else None,
    )


def node_view(memory: MemoryState, index: int) -> NodeView:
    """A parent node as a view."""
    nodes = memory.forest.nodes
    info = nodes.info[index]
    level = int(nodes.level[index])
    make = leaf_id if level == ZONE else node_id
    parent = int(nodes.parent[index])
    return NodeView(
        node_id=node_id(index), level=level, name=info.name, summary=info.summary,
        position=tuple(nodes.position[index].tolist()), bbox_min=tuple(nodes.bbox_min[index].tolist()),
        bbox_max=tuple(nodes.bbox_max[index].tolist()), children=[make(c) for c in info.children.tolist()],
        parent=node_id(parent) if parent >= 0 else None, category=info.room_type,
        count=int(nodes.n_leaves[index]), room=memory.vocab.rooms[info.room] if info.room >= 0 else None,
    )
