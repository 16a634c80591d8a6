"""The core's layering (docs/architecture.md) holds: the import-linter contracts in pyproject.toml
are kept, and no module of the core takes part in an import cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

importlinter = pytest.importorskip("importlinter", reason="install the dev extra: pip install -e '.[dev]'")
grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (dev extra)")


def test_import_linter_contracts_are_kept() -> None:
    # In a child process: import-linter configures logging with dictConfig, which would disable
    # every logger this test session already made.
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_contracts_cover_the_layers_and_forbidden_imports() -> None:
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml with tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    assert {"layers", "no-ros", "sim-is-a-world", "ground-floor", "acyclic"} <= set(contracts)
    packages = {p.name for p in (ROOT / "src" / "embodied_stack").iterdir()
                if p.is_dir() and (p / "__init__.py").is_file()}
    layered = {name.strip() for layer in contracts["layers"]["layers"] for name in layer.split("|")}
    assert packages <= layered, f"packages outside the layers contract: {sorted(packages - layered)}"
    assert "rclpy" in contracts["no-ros"]["forbidden_modules"]


def test_no_module_of_the_core_is_in_an_import_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    graph = grimp.build_graph("embodied_stack", cache_dir=None)
    cycles = sorted({tuple(sorted((module, target)))
                     for module in graph.modules
                     for target in graph.find_modules_directly_imported_by(module)
                     if graph.chain_exists(importer=target, imported=module)})
    assert not cycles, f"import cycles: {cycles[:10]}"


def test_the_cycle_check_would_see_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    assert graph.chain_exists(importer="pkg.b", imported="pkg.a")
