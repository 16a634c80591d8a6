"""Top-down pictures of scenes: rooms, walls with door gaps, objects, episodes, trajectories.

Drawn with matplotlib's Agg backend (no display needed). :func:`draw_scene_map` is the reusable
entry point (the demo also passes the memory's regions); :func:`draw_episode_map` adds an
episode set's starts and goals. Object colours are linear RGB in the scene and are shown
gamma-encoded (sRGB) so they look as the renderer's images do.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_stack.sim.errors import EpisodeFormatError
from embodied_stack.sim.scene import Scene
from embodied_stack.sim.walls import wall_segments

if TYPE_CHECKING:
    from embodied_stack.sim.episodes import EpisodeSet
    from embodied_stack.sim.navmap import NavMap

_ROOM_PALETTE = (
    "#f4d9b0", "#cfe3f6", "#d8ecd0", "#f3cfd8", "#e4dcf3", "#fbeab2", "#d3eeea", "#efd7c6",
    "#dfe6c4", "#f0e0ec", "#cde0e6", "#f6e6d2",
)
_TRAJ_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def room_color(category: str) -> str:
    """A stable pastel fill per room category (same colour in every picture)."""
    return _ROOM_PALETTE[zlib.crc32(category.encode()) % len(_ROOM_PALETTE)]


def draw_scene_map(
    scene: Scene,
    out_png: str | Path,
    *,
    navmap: NavMap | None = None,
    show_navigable: bool = True,
    trajectories: Sequence[tuple[str, np.ndarray]] = (),
    starts: np.ndarray | None = None,
    goals: np.ndarray | None = None,
    links: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    regions: Sequence[tuple[str, np.ndarray]] = (),
    title: str | None = None,
    dpi: int = 120,
    max_labels: int = 200,
) -> Path:
    """Draw a scene from above and save it as a PNG.

    Args:
        navmap: shades what is not navigable for the robot (built when ``show_navigable`` and none given).
        trajectories: ``(label, (K, 2) xy)`` polylines in ``map`` metres.
        starts: (N, 3) x, y, yaw (or (N, 2)) start poses, numbered in order.
        goals: (M, 2) goal points (stars).
        links: (start xy, goal xy) pairs joined by dotted lines.
        regions: ``(name, (K, 2) points)``: outlined by their convex hull (e.g. memory regions).
        max_labels: label at most this many objects (largest first, skipping overlapping labels).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Patch, Polygon
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    lo, hi = scene.bounds_xy()
    extent = hi - lo
    width_in = float(np.clip(extent[0] * 0.75, 8.0, 22.0))
    height_in = float(np.clip(width_in * (extent[1] + 1.0) / (extent[0] + 1.0), 5.0, 22.0))
    fig, ax = plt.subplots(figsize=(width_in + 3.0, height_in))
    legend: list[Any] = []
    for room in scene.rooms:
        ax.add_patch(Polygon(room.polygon_array, closed=True, facecolor=room_color(room.category), edgecolor="none", zorder=0))
    for category in sorted({r.category for r in scene.rooms}):
        legend.append(Patch(facecolor=room_color(category), edgecolor="none", label=category))
    if show_navigable:
        if navmap is None:
            from embodied_stack.sim.navmap import NavMap

            navmap = NavMap.from_scene(scene)
        _shade_blocked(ax, navmap)
        legend.append(Patch(facecolor="#7f7f7f", alpha=0.3, label="not navigable (robot centre)"))
    walls = wall_segments(scene, include_openings=True)
    solid = [(s.start, s.end) for s in walls if not s.opening]
    gaps = [(s.start, s.end) for s in walls if s.opening]
    ax.add_collection(LineCollection(solid, colors="#222222", linewidths=2.6, capstyle="projecting", zorder=3))
    ax.add_collection(LineCollection(gaps, colors="#b5651d", linewidths=1.0, linestyles=(0, (2, 2)), zorder=3))
    legend.append(plt.Line2D([], [], color="#222222", lw=2.6, label="wall"))
    legend.append(plt.Line2D([], [], color="#b5651d", lw=1.0, ls=(0, (2, 2)), label="door opening"))
    _draw_objects(ax, scene, max_labels)
    for name, pts in regions:
        _draw_region(ax, name, np.asarray(pts, dtype=np.float64))
    if regions:
        legend.append(plt.Line2D([], [], color="#6a3d9a", lw=1.2, ls="--", label="memory region"))
    for (a, b) in links:
        ax.plot([a[0], b[0]], [a[1], b[1]], ls=":", lw=0.8, color="#555555", alpha=0.6, zorder=5)
    for k, (name, path) in enumerate(trajectories):
        path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
        color = _TRAJ_COLORS[k % len(_TRAJ_COLORS)]
        ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=1.6, alpha=0.9, zorder=6, label=name)
        ax.plot(path[:1, 0], path[:1, 1], "o", color=color, ms=5, zorder=7)
        ax.plot(path[-1:, 0], path[-1:, 1], "X", color=color, ms=7, mec="white", mew=0.6, zorder=7)
        legend.append(plt.Line2D([], [], color=color, lw=1.6, label=name))
    if starts is not None and len(starts):
        _draw_starts(ax, np.asarray(starts, dtype=np.float64))
        legend.append(plt.Line2D([], [], marker="^", color="#1b9e77", lw=0, ms=7, label="episode start"))
    if goals is not None and len(goals):
        g = np.asarray(goals, dtype=np.float64).reshape(-1, 2)
        ax.plot(g[:, 0], g[:, 1], "*", color="#e7298a", ms=11, mec="white", mew=0.7, lw=0, zorder=8)
        legend.append(plt.Line2D([], [], marker="*", color="#e7298a", lw=0, ms=10, label="goal"))
    ax.set_xlim(lo[0] - 0.5, hi[0] + 0.5)
    ax.set_ylim(lo[1] - 0.9, hi[1] + 0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("x [m] (map frame)")
    ax.set_ylabel("y [m]")
    ax.grid(True, color="#000000", alpha=0.06, lw=0.5)
    bar = 1.0 if extent.max() < 12 else 2.0
    ax.add_artist(AnchoredSizeBar(ax.transData, bar, f"{bar:g} m", "lower left", pad=0.3, sep=3,
                                  frameon=False, size_vertical=0.06, fontproperties={"size": 8}))
    ax.set_title(title or f"{scene.name}: {len(scene.rooms)} rooms, {len(scene.objects)} objects", fontsize=11)
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return out


def draw_episode_map(
    scene: Scene,
    out_png: str | Path,
    *,
    episodes: EpisodeSet | None = None,
    trajectories: Sequence[tuple[str, np.ndarray]] = (),
    show_navigable: bool = True,
    dpi: int = 120,
) -> Path:
    """:func:`draw_scene_map` with an episode set's starts (numbered) joined to their goals
    (target object centres, target room centroids)."""
    starts, goals, links = None, None, []
    if episodes is not None:
        starts = np.array([[e.start.x, e.start.y, e.start.yaw] for e in episodes.episodes]).reshape(-1, 3)
        goal_list = []
        for e in episodes.episodes:
            targets = episode_target_points(scene, e)
            goal_list.extend(targets)
            if len(targets):
                near = targets[np.argmin(np.linalg.norm(targets - [e.start.x, e.start.y], axis=1))]
                links.append((np.array([e.start.x, e.start.y]), near))
        goals = np.unique(np.round(np.array(goal_list).reshape(-1, 2), 3), axis=0)
    return draw_scene_map(scene, out_png, trajectories=trajectories, starts=starts, goals=goals, links=links,
                          show_navigable=show_navigable, dpi=dpi)


def episode_target_points(scene: Scene, episode: Any) -> np.ndarray:
    """Where an episode's targets are, for drawing: object centres and room polygon centroids."""
    pts = [o.center[:2] for c in episode.target_categories for o in scene.objects_of_category(c)]
    pts += [scene.object_by_id(i).center[:2] for i in episode.target_objects]
    pts += [scene.room_by_id(r).polygon_array.mean(axis=0) for r in episode.target_rooms]
    return np.array(pts, dtype=np.float64).reshape(-1, 2)


def load_trajectory(path: str | Path) -> np.ndarray:
    """Read a trajectory: a JSON list of [x, y(, yaw)] or an object with ``poses`` /
    ``trajectory`` holding one (as ``eval nav --out`` and exploration write them)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise EpisodeFormatError(f"cannot read a trajectory ({err})", path=str(path)) from err
    if isinstance(data, dict):
        data = data.get("poses", data.get("trajectory"))
    try:
        arr = np.array([p[:2] if isinstance(p, list) else [p["x"], p["y"]] for p in data], dtype=np.float64)
    except (TypeError, KeyError, ValueError, IndexError) as err:
        raise EpisodeFormatError("expected a list of [x, y] or [x, y, yaw] points", path=str(path), field="poses") from err
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
        raise EpisodeFormatError("expected a list of finite [x, y] points", path=str(path), field="poses")
    return arr


def _srgb(linear: Sequence[float]) -> tuple[float, float, float]:
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    s = np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return (float(s[0]), float(s[1]), float(s[2]))


def _shade_blocked(ax: Any, navmap: NavMap) -> None:
    blocked = np.where(navmap.free, np.nan, 1.0)
    h, w = navmap.shape
    r = navmap.resolution_m
    ox, oy = navmap.origin_xy
    ax.imshow(blocked, origin="lower", cmap="Greys", vmin=0, vmax=2, alpha=0.3, interpolation="nearest",
              extent=(ox - r / 2, ox + (w - 0.5) * r, oy - r / 2, oy + (h - 0.5) * r), zorder=1)


def _draw_objects(ax: Any, scene: Scene, max_labels: int) -> None:
    from matplotlib.patches import Polygon

    order = sorted(scene.objects, key=lambda o: (o.center[2] + o.size[2] / 2, o.id))
    floors = {r.id: r.floor_z for r in scene.rooms}
    for obj in order:
        hung = obj.center[2] - obj.size[2] / 2 - floors[obj.room] >= 1.0
        ax.add_patch(Polygon(obj.footprint(), closed=True, facecolor=_srgb(obj.color), edgecolor="#333333",
                             lw=0.6, ls="--" if hung else "-", alpha=0.55 if hung else 0.95, zorder=4))
    taken: list[np.ndarray] = []
    lo, hi = scene.bounds_xy()
    char_w = max(hi[0] - lo[0], 4.0) / 260.0
    line_h = char_w * 2.2
    by_size = sorted(scene.objects, key=lambda o: (-o.size[0] * o.size[1], o.id))
    for obj in by_size[:max_labels]:
        text = obj.id.replace("_", " ")
        half = np.array([len(text) * char_w / 2, line_h / 2])
        c = np.array(obj.center[:2])
        for offset in ((0.0, 0.0), (0.0, line_h), (0.0, -line_h), (half[0] + 0.1, 0.0), (-half[0] - 0.1, 0.0)):
            box = np.concatenate([c + offset - half, c + offset + half])
            if all(box[2] < t[0] or box[0] > t[2] or box[3] < t[1] or box[1] > t[3] for t in taken):
                taken.append(box)
                ax.text(*(c + offset), text, fontsize=5.5, ha="center", va="center", color="#111111", zorder=9,
                        bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.65})
                break
    repeated = {c for c in (r.category for r in scene.rooms) if sum(r.category == c for r in scene.rooms) > 1}
    for room in scene.rooms:
        centre = _label_point(scene, room)
        ax.text(centre[0], centre[1], room.id if room.category in repeated else room.category, fontsize=9,
                fontweight="bold", color="#20304a", ha="center", va="center", alpha=0.85, zorder=2)


def _label_point(scene: Scene, room: Any) -> np.ndarray:
    """A point inside the room far from its objects and walls (where its name stays readable),
    preferring the middle."""
    from embodied_stack.sim.geometry import polygon_distance, segment_distance

    poly = room.polygon_array
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    xs, ys = np.meshgrid(np.linspace(lo[0], hi[0], 25)[1:-1], np.linspace(lo[1], hi[1], 25)[1:-1])
    cand = np.stack([xs.ravel(), ys.ravel()], axis=1)
    cand = cand[room.contains(cand)]
    if len(cand) == 0:
        return poly.mean(axis=0)
    clear = np.min([segment_distance(cand, a, b) for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True)], axis=0)
    for obj in scene.objects:
        if obj.room == room.id:
            clear = np.minimum(clear, polygon_distance(cand, obj.footprint()))
    score = np.minimum(clear, 1.2) - 0.05 * np.linalg.norm(cand - (lo + hi) / 2, axis=1)
    return cand[int(np.argmax(score))]


def _draw_starts(ax: Any, starts: np.ndarray) -> None:
    for k, s in enumerate(starts):
        yaw = s[2] if len(s) > 2 else 0.0
        ax.plot(s[0], s[1], marker=(3, 0, math.degrees(yaw) - 90.0), color="#1b9e77", ms=8, mec="white", mew=0.6, zorder=8)
        ax.text(s[0] + 0.12, s[1] + 0.12, str(k + 1), fontsize=6, color="#0b5e47", zorder=9)


def _draw_region(ax: Any, name: str, pts: np.ndarray) -> None:
    from matplotlib.patches import Polygon

    if len(pts) >= 3:
        from scipy.spatial import ConvexHull, QhullError

        try:
            pts = pts[ConvexHull(pts).vertices]
        except QhullError:
            pass
    if len(pts) >= 3:
        ax.add_patch(Polygon(pts, closed=True, fill=False, edgecolor="#6a3d9a", lw=1.2, ls="--", zorder=5))
    else:
        ax.plot(pts[:, 0], pts[:, 1], "--", color="#6a3d9a", lw=1.2, zorder=5)
    c = pts.mean(axis=0)
    ax.text(c[0], c[1], name, fontsize=7, color="#6a3d9a", style="italic", ha="center", va="bottom", zorder=9)
