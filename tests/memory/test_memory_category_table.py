"""The generated table of uses and usual rooms: up to date, broad, made of its general rules only,
and what the packaged knowledge reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from embodied_stack.memory.knowledge import DEFAULT_TABLE, Knowledge, default_knowledge

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_table_is_what_the_script_generates() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_knowledge_table.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_table_is_broad_and_every_use_is_a_rule_phrase() -> None:
    table = json.loads(DEFAULT_TABLE.read_text(encoding="utf-8"))
    assert len(table["categories"]) >= 250
    phrases = {p for group in table["functions"].values() for p in group}
    for name, entry in table["categories"].items():
        assert entry["uses"] and entry["rooms"], name
        assert set(entry["uses"]) <= phrases, name
    vocabulary = json.loads((ROOT / "src" / "embodied_stack" / "sim" / "data" / "vocabulary.json").read_text())
    assert set(vocabulary["objects"]) <= set(table["categories"])


def test_packaged_knowledge_takes_uses_from_the_table_and_synonyms_from_the_file() -> None:
    knowledge = default_knowledge()
    table = json.loads(DEFAULT_TABLE.read_text(encoding="utf-8"))
    assert list(knowledge.uses("refrigerator")) == table["categories"]["fridge"]["uses"]
    assert knowledge.activities("kitchen") == tuple(table["rooms"]["kitchen"]["activities"])
    plain = Knowledge.load(ROOT / "src" / "embodied_stack" / "data" / "memory" / "knowledge.json")
    assert plain.uses("fridge") != knowledge.uses("fridge")  # a custom file alone keeps its own uses
