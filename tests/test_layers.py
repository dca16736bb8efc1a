"""The import contracts of pyproject.toml ([tool.importlinter]) hold, so the test command
catches a layer violation as CI's `lint-imports` does; plus the one rule import-linter cannot
express: no module imports another package's private (`_name`) names.
"""

from __future__ import annotations

import ast
import copy
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter import configuration
from importlinter.application import use_cases
from importlinter.application.app_config import settings as linter_settings

import app
from tests.conftest import REPO

CONTRACTS = {"layers", "pure", "mock-axis", "acyclic", "private-modules"}


def test_the_tested_app_is_this_checkout() -> None:
    assert Path(app.__file__).resolve().parent == REPO / "app"


class _FixedGraph:
    """A graph builder that hands import-linter a graph we prepared (no cache on disk)."""

    def __init__(self, graph: grimp.ImportGraph) -> None:
        self.graph = graph

    def build(self, *args: Any, **kwargs: Any) -> grimp.ImportGraph:
        return copy.deepcopy(self.graph)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("app", include_external_packages=True, cache_dir=None)


@pytest.fixture
def kept(graph: grimp.ImportGraph) -> Iterator[Any]:
    """Whether contracts of pyproject.toml (all, or the one named) are kept on a graph."""
    configuration.configure()

    def run(g: grimp.ImportGraph, contract: str | None = None) -> bool:
        linter_settings.configure(GRAPH_BUILDER=_FixedGraph(g))
        return use_cases.lint_imports(
            str(REPO / "pyproject.toml"),
            limit_to_contracts=(contract,) if contract else (),
            cache_dir=None,
            no_logo=True,
        )

    yield run
    configuration.configure()


def test_the_import_contracts_hold(
    kept: Any, graph: grimp.ImportGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert {c["id"] for c in contracts["contracts"]} == CONTRACTS
    ok = kept(graph)
    report = capsys.readouterr().out
    assert ok, report
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in report, report


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        ("app.core.config", "app.keys.custody", "layers"),  # core importing a domain
        ("app.directory.service", "app.delivery.service", "layers"),  # a domain cycle
        ("app.signing.xmldsig", "app.core.db", "pure"),  # the database, through core.db
        ("app.edxml.parser", "httpx", "pure"),
        ("app.worker", "app.mock_axis.memory", "mock-axis"),
        ("app.audit.service", "app.clients.service", "acyclic"),  # clients imports audit
        # inside a package: the rules back to their entry points, the SDK fixes to the reader
        ("app.documents.status_rules", "app.documents.statuses", "acyclic"),
        ("app.edxml.interop", "app.edxml.reader", "acyclic"),
    ],
)
def test_a_violation_breaks_its_contract(
    kept: Any, graph: grimp.ImportGraph, importer: str, imported: str, contract: str
) -> None:
    assert kept(graph, contract)
    bad = copy.deepcopy(graph)
    bad.add_import(importer=importer, imported=imported)
    assert not kept(bad, contract)


# -- private names ---------------------------------------------------------------------------


def _package_of(module: str, *, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def private_imports(module: str, is_package: bool, source: str, root: Path) -> list[str]:
    """`from x import _y` where x lies outside the importing module's own package."""
    own = _package_of(module, is_package=is_package)
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = own.split(".")[: len(own.split(".")) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        target_is_package = (root / Path(*target.split(".")) / "__init__.py").exists()
        target_package = _package_of(target, is_package=target_is_package)
        for alias in node.names:
            name = alias.name
            if name.startswith("_") and not name.startswith("__") and target_package != own:
                found.append(f"{module}: from {target} import {name}")
    return found


def test_no_module_imports_another_packages_private_names() -> None:
    found = []
    for path in sorted((REPO / "app").rglob("*.py")):
        module, is_package = _module_name(path, REPO)
        found += private_imports(module, is_package, path.read_text(), REPO)
    assert found == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("app.api.documents", "from app.documents.service import _targets", 1),
        ("app.api.documents", "from ..documents.service import _targets", 1),
        ("app.api.documents", "from app.documents import _secret", 1),
        ("app.documents.statuses", "from app.documents.service import _targets", 0),
        ("app.documents.statuses", "from .service import _targets", 0),
        ("app.api.documents", "from app.documents.service import __all__, targets", 0),
    ],
)
def test_the_private_name_check_tells_across_from_within(
    module: str, source: str, expected: int
) -> None:
    assert len(private_imports(module, False, source, REPO)) == expected
