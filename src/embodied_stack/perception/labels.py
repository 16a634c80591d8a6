"""Labels a detector may mix up, and how alike two labels are.

:data:`CONFUSIONS` is the documented confusion table of the simulated detector
(:mod:`.simulated`): for each category, the categories a real open-vocabulary detector often
reports instead (visually similar furniture: armchair / sofa / chair, nightstand / cabinet /
dresser, desk / table, ...). Fusion uses the same notion of "alike" to let a sighting labelled
``armchair`` join a track that is mostly ``sofa``: :class:`LabelSimilarity` scores two labels
by the cosine of their text embeddings (when an embedder is given) and treats pairs of the
table as at least ``confusable`` alike, so the two agree on what a plausible mix-up is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

CONFUSIONS: dict[str, tuple[str, ...]] = {
    "armchair": ("sofa", "chair"),
    "sofa": ("armchair", "bench"),
    "chair": ("armchair", "stool", "office chair"),
    "office chair": ("chair", "armchair"),
    "stool": ("chair", "side table"),
    "bench": ("sofa", "table"),
    "nightstand": ("cabinet", "dresser", "side table"),
    "dresser": ("cabinet", "nightstand", "chest of drawers"),
    "cabinet": ("dresser", "nightstand", "wardrobe"),
    "wardrobe": ("cabinet", "dresser"),
    "filing cabinet": ("cabinet", "dresser"),
    "desk": ("table", "dining table"),
    "table": ("desk", "dining table", "coffee table"),
    "dining table": ("table", "desk"),
    "coffee table": ("side table", "table"),
    "side table": ("nightstand", "coffee table", "stool"),
    "tv": ("monitor",),
    "monitor": ("tv", "laptop"),
    "laptop": ("monitor",),
    "bookshelf": ("shelf", "cabinet"),
    "shelf": ("bookshelf", "cabinet"),
    "sink": ("washbasin",),
    "washbasin": ("sink",),
    "microwave": ("oven",),
    "oven": ("microwave", "stove"),
    "stove": ("oven",),
    "kettle": ("coffee maker",),
    "coffee maker": ("kettle",),
    "lamp": ("floor lamp",),
    "floor lamp": ("lamp",),
    "bed": ("sofa",),
    "rug": ("mat",),
    "potted plant": ("plant",),
    "kitchen counter": ("cabinet", "table"),
}
"""category -> categories a detector reports instead, most frequent first."""

FALSE_POSITIVE_LABELS: tuple[str, ...] = (
    "picture", "box", "bag", "chair", "lamp", "book", "plant", "shelf", "bottle", "towel",
)
"""Labels the simulated detector gives to things that are not objects (a patch of wall, a shadow)."""


def confusable(a: str, b: str, table: Mapping[str, tuple[str, ...]] = CONFUSIONS) -> bool:
    """True when the table lists either label as a mix-up of the other."""
    return b in table.get(a, ()) or a in table.get(b, ())


class LabelSimilarity:
    """How alike two category labels are, in [0, 1] (1 for the same label).

    Args:
        embed: texts -> (N, D) embeddings (e.g. the memory's text embedder); without one only
            the confusion table counts.
        confusable_similarity: the least similarity of a pair in the confusion table.
        table: the confusion table.

    Results are cached per pair; each label is embedded once.
    """

    def __init__(self, embed: Callable[[list[str]], np.ndarray] | None = None, *,
                 confusable_similarity: float = 0.7,
                 table: Mapping[str, tuple[str, ...]] = CONFUSIONS) -> None:
        self.embed = embed
        self.confusable_similarity = float(confusable_similarity)
        self.table = dict(table)
        self._vectors: dict[str, np.ndarray] = {}
        self._pairs: dict[tuple[str, str], float] = {}

    def __call__(self, a: str, b: str) -> float:
        if a == b:
            return 1.0
        key = (a, b) if a < b else (b, a)
        found = self._pairs.get(key)
        if found is None:
            found = self.confusable_similarity if confusable(a, b, self.table) else 0.0
            if self.embed is not None:
                va, vb = self._vector(a), self._vector(b)
                found = max(found, float(np.clip(va @ vb, 0.0, 1.0)))
            self._pairs[key] = found
        return found

    def to_votes(self, label: str, votes: Mapping[str, float]) -> float:
        """Similarity of ``label`` to a label distribution (vote weights, any scale)."""
        total = sum(votes.values())
        if total <= 0:
            return 0.0
        return sum(w * self(label, other) for other, w in votes.items()) / total

    def _vector(self, label: str) -> np.ndarray:
        vec = self._vectors.get(label)
        if vec is None:
            assert self.embed is not None
            vec = np.asarray(self.embed([f"a {label}"]), dtype=np.float64).reshape(-1)
            vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
            self._vectors[label] = vec
        return vec
