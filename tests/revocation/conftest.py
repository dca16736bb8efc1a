"""The outside PKI and its web server (tests/outside_pki.py) wired into a hub under test: the
outside root is in TRUST_ANCHORS, fetches time out after FETCH_TIMEOUT = 2 s, and
REVOCATION_ALLOW_PRIVATE is set (the server listens on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from app.core.config import Settings
from app.edxml import EdxmlDocument, build_document_tree, serialize
from app.signing.xmldsig import Signer, sign_tree
from tests.conftest import World
from tests.factories import document_json
from tests.outside_pki import OutsidePki, RevocationServer

DOCS = "/api/v1/documents"
FETCH_TIMEOUT = 2.0


@pytest.fixture(scope="session")
def revocation_server() -> Iterator[RevocationServer]:
    server = RevocationServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def outside_pki(revocation_server: RevocationServer) -> OutsidePki:
    return OutsidePki(revocation_server.url)


@dataclass
class Outside:
    server: RevocationServer
    pki: OutsidePki


@pytest.fixture
def outside(revocation_server: RevocationServer, outside_pki: OutsidePki) -> Iterator[Outside]:
    """A healthy outside CA (default routes), request counters at zero; afterwards, no route
    handler may have failed (a broken handler would pass for a refused answer)."""
    outside_pki.serve(revocation_server)
    revocation_server.reset_counts()
    yield Outside(revocation_server, outside_pki)
    assert revocation_server.errors == []


@pytest.fixture
def settings(settings: Settings, outside_pki: OutsidePki, tmp_path: Path) -> Settings:
    settings.trust_anchors = outside_pki.write_root(tmp_path / "outside-root.pem")
    settings.fetch_timeout = FETCH_TIMEOUT
    settings.revocation_allow_private = True  # the outside CA serves on loopback
    return settings


def signed_document(signer: Signer, from_organ: str, to: list[str]) -> etree._Element:
    root = build_document_tree(
        EdxmlDocument.model_validate(document_json(from_organ, to)).with_document_id()
    )
    sign_tree(root, signer)
    return root


def submit(client: Any, world: World, signer: Signer, to: list[str] | None = None) -> Any:
    """POST a document of World.OWN signed by `signer`, as XML."""
    xml = serialize(signed_document(signer, World.OWN, to or [World.OWN2]))
    return client.post(
        DOCS, content=xml, headers=world.auth("system") | {"Content-Type": "application/xml"}
    )
