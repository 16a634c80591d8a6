"""Oracles for ablations: which scene-file knowledge a run was allowed to use.

Every flag is off by default (the robot uses only what it perceives); ``--oracle
rooms,categories,...`` turns some on, and the evaluation prints the object in its JSON so a
figure always says what it used.

- ``categories``: detections carry the true category (no label confusion, no false positives);
- ``identities``: detections carry the simulator's instance id, and fusion joins by it;
- ``rooms``: room polygons and types come from the scene file;
- ``map``: the memory's navigable map is the simulator's true one;
- ``pose``: perception and mapping use the true pose (depth noise stays as ``--noise`` says).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

ORACLE_NAMES = ("categories", "identities", "rooms", "map", "pose")


@dataclass(frozen=True)
class Oracles:
    categories: bool = False
    identities: bool = False
    rooms: bool = False
    map: bool = False
    pose: bool = False

    @classmethod
    def parse(cls, text: str | None) -> Oracles:
        """``"rooms,map"``, ``"all"``, ``"none"`` or ''/None; unknown names raise ValueError."""
        names = [n.strip() for n in (text or "").split(",") if n.strip()]
        if names == ["none"]:
            return cls()
        if names == ["all"]:
            return cls(**dict.fromkeys(ORACLE_NAMES, True))
        unknown = sorted(set(names) - set(ORACLE_NAMES))
        if unknown:
            raise ValueError(f"--oracle: unknown name(s) {unknown}; expected a comma-separated list of "
                             f"{', '.join(ORACLE_NAMES)} (or 'all' / 'none')")
        return cls(**dict.fromkeys(names, True))

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))
