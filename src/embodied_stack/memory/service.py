"""The memory service: check each request, run it on the memory, and turn every failure into an
error message instead of an exception. The ROS memory node serves ``memory/query``,
``memory/save`` and ``memory/load`` through this class, and ``embodied-stack demo`` asks its
questions through it too, so both take the same code path.

Save and load paths are resolved under ``memory_root`` with the store's own
:func:`embodied_stack.memory.store.resolve_inside` (symlinks followed), so a request cannot
reach outside it; relative paths are taken from the root.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.errors import EmbodiedStackError
from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.types import MAX_TEXT_CHARS, Observation
from embodied_stack.types import Pose2D

logger = logging.getLogger(__name__)

MODES = ("", "forest", "flat")
MAX_K = 1000
FAILURES = (EmbodiedStackError, OSError, ValueError)


@dataclass
class Outcome:
    """``success`` and, when false, ``error``; ``value`` holds what the call returned."""

    success: bool
    error: str = ""
    value: Any = None


def load_spatial(spec: str, rooms_file: str = "", robot_radius_m: float = 0.18) -> Any:
    """The memory's navigable map and rooms from a ``spatial`` parameter, or None.

    ``rooms:FILE.npz`` reads the robot's own room map (:class:`~embodied_stack.memory.rooms.RoomMap`,
    written by a survey or the sensing node from depth and the pose estimate): the no-oracle
    choice. ``map:FILE.yaml`` reads a map_server occupancy map, with the room polygons of the
    scene/1 ``rooms_file`` when given (segmented from the map otherwise). ``scene:FILE`` builds
    the simulator's *true* navigable map of a scene/1 file (its rooms included): scene-file
    knowledge, an oracle for ablations only. '' means none.
    """
    if not spec or spec.startswith("scene:habitat:"):
        return None
    kind, _, path = spec.partition(":")
    if kind == "scene":
        from embodied_stack.sim.navmap import NavMap
        from embodied_stack.sim.scene import load_scene

        return NavMap.from_scene(load_scene(path), agent_radius_m=robot_radius_m)
    if kind == "rooms":
        from embodied_stack.memory.rooms import RoomMap

        return RoomMap.load(path)
    if kind == "map":
        from embodied_stack.memory.spatial import OccupancyMapContext, rooms_from_scene

        rooms = rooms_from_scene(rooms_file) if rooms_file else None
        return OccupancyMapContext.from_map_yaml(path, rooms=rooms, robot_radius_m=robot_radius_m)
    raise ValueError(f"spatial {spec!r}: expected '', 'rooms:FILE.npz', 'map:FILE.yaml' or 'scene:FILE.scene.json' (oracle)")


class RoomsFile:
    """The robot's rooms file (a :class:`~embodied_stack.memory.rooms.RoomMap` ``.npz``) that
    another process rewrites as its map grows (the ROS sensing node): :meth:`poll` loads it
    again only when it changed, so the memory node can adopt the newest rooms."""

    def __init__(self, path: str | Path) -> None:
        if not str(path).strip():
            raise ValueError("rooms file path is empty; expected 'rooms:FILE.npz'")
        self.path = Path(path).expanduser()
        self._stamp: tuple[int, int] | None = None

    def poll(self) -> Any:
        """The room map when the file is new or changed since the last call, else None (also
        while it does not exist yet); SpatialContextError when it cannot be read."""
        from embodied_stack.memory.rooms import RoomMap

        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return None
        room_map = RoomMap.load(self.path)
        self._stamp = stamp
        return room_map


def _open_memory(config: MemoryConfig, store: Path | None, *, create: bool, spatial: Any = None) -> Any:
    from embodied_stack.memory.semantic_memory import SemanticMemory

    if store is None:
        return SemanticMemory(config, spatial=spatial)
    return SemanticMemory.open(store, root=config.memory_root, create=create, config=config, spatial=spatial)


class MemoryService:
    """Query, save, load and ingest on one :class:`embodied_stack.memory.SemanticMemory`.

    Args:
        config: the memory settings (``memory_root`` included; it is created if missing).
        store_dir: the store opened (or created) at start, under the root; '' = RAM only.
        default_k, max_k: hits when a request asks for 0, and the most a request may ask for.
        spatial: navigable map and rooms (:func:`load_spatial`), or None.
        open_memory: ``(config, store path or None, create=..., spatial=...) -> memory``.
    """

    def __init__(self, config: MemoryConfig, store_dir: str = "", default_k: int = 5, max_k: int = 100,
                 spatial: Any = None, open_memory: Callable[..., Any] = _open_memory) -> None:
        self.config = config
        self.root = Path(config.memory_root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.default_k = default_k
        self.max_k = min(max_k, MAX_K)
        self._open = open_memory
        self.spatial = spatial
        store = self.resolve(store_dir) if store_dir else None
        self.memory = open_memory(config, store, create=True, spatial=spatial)
        self.rejected = 0

    def resolve(self, path: str) -> Path:
        """``path`` inside the memory root; PathOutsideRootError (a StoreError) otherwise."""
        from embodied_stack.memory.store import resolve_inside

        if not str(path).strip():
            raise ValueError("path is empty; give a directory under the memory root")
        return resolve_inside(self.root, path)

    def query(self, text: str, kind: Any, k: int, mode: str, robot_pose: Pose2D | None) -> Outcome:
        """Answer a QueryMemory request; every bad field becomes an error message.

        ``kind`` is a :class:`~embodied_stack.memory.results.QueryKind`, its name, or None / ""
        for automatic detection.
        """
        if not isinstance(text, str) or not text.strip():
            return Outcome(False, "query is empty; ask something, e.g. 'where is the fridge?'")
        if len(text) > MAX_TEXT_CHARS:
            return Outcome(False, f"query has {len(text)} characters; at most {MAX_TEXT_CHARS} are accepted")
        k = self.default_k if k == 0 else k
        if not 1 <= k <= self.max_k:
            return Outcome(False, f"k = {k} is out of range; expected 1..{self.max_k} (0 = default {self.default_k})")
        if mode not in MODES:
            return Outcome(False, f"mode {mode!r} is unknown; expected '', 'forest' or 'flat'")
        try:
            result = self.memory.query(text, kind=kind or None, k=k, robot_pose=robot_pose, mode=mode or "forest")
        except FAILURES as err:
            return Outcome(False, f"query failed: {err}")
        return Outcome(True, value=result)

    def ingest(self, observations: Iterable[Observation], rejected_before: int = 0) -> Outcome:
        """Add observations (``rejected_before`` were refused while converting them)."""
        self.rejected += rejected_before
        try:
            report = self.memory.ingest(list(observations))
        except FAILURES as err:
            return Outcome(False, f"ingest failed: {err}")
        self.rejected += len(report.rejected)
        return Outcome(True, value=report)

    def save(self, path: str) -> Outcome:
        """Write the memory to ``path`` under the root; ``value`` is the absolute directory."""
        try:
            target = self.resolve(path)
            self.memory.save(target)
        except FAILURES as err:
            return Outcome(False, f"save failed: {err}")
        return Outcome(True, value=target)

    def load(self, path: str) -> Outcome:
        """Replace the memory with the store at ``path`` (the current one stays on failure)."""
        try:
            source = self.resolve(path)
            if not source.is_dir():
                raise FileNotFoundError(f"{source} is not a memory store directory")
            loaded = self._open(self.config, source, create=False, spatial=self.spatial)
        except FAILURES as err:
            return Outcome(False, f"load failed: {err}")
        old, self.memory = self.memory, loaded
        try:
            old.close()
        except FAILURES as err:
            logger.warning("closing the previous memory failed: %s", err)
        return Outcome(True, value=source)

    def set_spatial(self, spatial: Any) -> Outcome:
        """Adopt a new navigable map and rooms (e.g. the robot's newest rooms): leaves are
        re-roomed and the hierarchy rebuilt; loads keep it."""
        try:
            self.memory.set_spatial(spatial)
        except FAILURES as err:
            return Outcome(False, f"new rooms refused: {err}")
        self.spatial = spatial
        return Outcome(True, value=spatial)

    def stats(self) -> Any:
        return self.memory.stats()

    def nodes(self, max_leaves: int) -> list[Any]:
        """Node views for drawing: the ``max_leaves`` most recently seen leaves, every cluster."""
        leaves = self.memory.leaves
        newest = np.argsort(-leaves.last_seen[: leaves.n], kind="stable")[:max_leaves]
        return [self.memory.leaf_view(int(i)) for i in newest] + list(self.memory.iter_nodes())

    def close(self) -> None:
        self.memory.close()
