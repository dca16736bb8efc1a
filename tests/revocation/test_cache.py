"""The cache of fetched revocation data (SPEC 5.1): a fresh entry means no fetch, in this
process (memo) and in another one (the database); the worker renews entries ahead of expiry;
`openssl ocsp` agrees with the test responder."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.main import create_app
from app.revocation import checks
from app.revocation.models import RevocationAnswer
from app.revocation.service import lookup_key
from app.worker import Worker
from tests.conftest import World
from tests.outside_pki import PEM, Served
from tests.revocation.conftest import Outside, submit


def answers(sessions: Any, kind: str | None = None) -> list[RevocationAnswer]:
    with sessions() as s:
        stmt = select(RevocationAnswer).order_by(RevocationAnswer.fetched_at)
        if kind:
            stmt = stmt.where(RevocationAnswer.kind == kind)
        return list(s.scalars(stmt))


def report_of(client: Any, world: World, r: Any) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    out = client.get(
        f"/api/v1/documents/{r.json()['id']}/validation", headers=world.auth("system")
    ).json()
    return dict(out["report"])


def test_a_fresh_entry_is_used_without_fetching(
    client, world: World, sessions, settings, outside: Outside
) -> None:
    signer = outside.pki.signer(outside.pki.leaf(World.OWN))
    first = report_of(client, world, submit(client, world, signer))
    assert dict(outside.server.hits) == {"/ocsp": 1, "/root.crl": 1}
    kept = answers(sessions)
    assert sorted(a.kind for a in kept) == ["crl", "ocsp"]
    ocsp_row = next(a for a in kept if a.kind == "ocsp")
    assert ocsp_row.url == f"{outside.server.url}/ocsp"
    assert ocsp_row.serial == format(signer.certificate.serial_number, "x")
    assert ocsp_row.next_update is not None and ocsp_row.expires_at == ocsp_row.next_update
    assert ocsp_row.expires_at - ocsp_row.fetched_at <= dt.timedelta(hours=24)

    # Same process: the memo answers.
    second = report_of(client, world, submit(client, world, signer))
    assert outside.server.fetches() == 2
    assert [e["sha256"] for e in second["revocation_data"]] == [
        e["sha256"] for e in first["revocation_data"]
    ]

    # Another process (a new app, nothing in memory): the database answers.
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings), raise_server_exceptions=False) as other:
        third = report_of(other, world, submit(other, world, signer))
    assert outside.server.fetches() == 2
    assert {e["sha256"] for e in third["revocation_data"]} == {a.sha256 for a in kept}
    assert len(answers(sessions)) == 2


def test_an_expired_entry_is_fetched_again(client, world, sessions, app, outside: Outside):
    now = dt.datetime.now(dt.UTC)
    later = [dt.timedelta(0)]  # how far the responder's (and the hub's) clock moved
    pki = outside.pki
    outside.server.routes["/ocsp"] = lambda body: Served(
        pki.ocsp_answer(
            body,
            this_update=dt.datetime.now(dt.UTC) + later[0],
            next_update=dt.datetime.now(dt.UTC) + later[0] + dt.timedelta(minutes=10),
        )
    )
    signer = pki.signer(pki.leaf(World.OWN, crl_url=None))
    report_of(client, world, submit(client, world, signer))
    assert outside.server.hits["/ocsp"] == 1
    # Eleven minutes later the answer is past its nextUpdate: the request path fetches again.
    later[0] = dt.timedelta(minutes=11)
    app.state.hub.revocation.clock = lambda: now + later[0]
    report_of(client, world, submit(client, world, signer))
    assert outside.server.hits["/ocsp"] == 2
    assert outside.server.hits["/root.crl"] == 1  # still fresh
    assert len(answers(sessions, "ocsp")) == 2


def test_the_worker_renews_an_entry_close_to_expiry(
    client, world: World, sessions, app, outside: Outside
) -> None:
    pki = outside.pki
    server = outside.server
    # Short-lived answers, each one a minute longer-lived than the one before.
    server.routes["/ocsp"] = lambda body: Served(
        pki.ocsp_answer(
            body,
            next_update=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3 + server.hits["/ocsp"]),
        )
    )
    signer = pki.signer(pki.leaf(World.OWN))
    report_of(client, world, submit(client, world, signer))
    (old,) = answers(sessions, "ocsp")
    assert old.refresh_at == old.expires_at - (old.expires_at - old.fetched_at) / 4

    worker = Worker(app.state.hub, app.state.sessionmaker)
    worker.run_once()  # not due yet: nothing fetched
    assert outside.server.hits["/ocsp"] == 1

    hub = app.state.hub
    hub.revocation.clock = lambda: old.refresh_at + dt.timedelta(seconds=1)
    worker._next_revocation_check = 0.0
    worker.run_once()
    assert outside.server.hits["/ocsp"] == 2
    rows = answers(sessions, "ocsp")
    assert len(rows) == 2
    new = max(rows, key=lambda r: r.expires_at)
    assert new.expires_at > old.expires_at and new.lookup == old.lookup

    # The request path now uses the renewed answer, without fetching.
    report = report_of(client, world, submit(client, world, signer))
    assert outside.server.hits["/ocsp"] == 2
    assert new.sha256 in {e["sha256"] for e in report["revocation_data"]}


def test_openssl_verifies_the_test_responders_answer(outside: Outside, tmp_path: Path) -> None:
    """The independent checker: `openssl ocsp` accepts the delegated responder's answer and
    refuses the rogue one, as the hub does."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (Debian package: openssl)")
    pki = outside.pki
    leaf = pki.leaf(World.OWN)
    request = checks.ocsp_request(leaf, pki.sub.cert)
    files = {
        "req.der": request,
        "good.der": pki.ocsp_answer(request),
        "rogue.der": pki.ocsp_answer(request, signer="rogue"),
        "root.pem": pki.root_pem(),
        "sub.pem": pki.sub.cert.public_bytes(PEM),
        "leaf.pem": leaf.public_bytes(PEM),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    def openssl(answer: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "ocsp", "-respin", answer, "-reqin", "req.der", "-CAfile", "root.pem",
             "-verify_other", "sub.pem", "-issuer", "sub.pem", "-cert", "leaf.pem", "-no_nonce"],
            cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    good = openssl("good.der")
    assert good.returncode == 0, good.stderr
    assert "Response verify OK" in good.stderr + good.stdout
    assert "leaf.pem: good" in good.stdout
    rogue = openssl("rogue.der")
    assert rogue.returncode != 0
    assert "Response Verify Failure" in rogue.stderr + rogue.stdout

    now = dt.datetime.now(dt.UTC)
    checks.check_ocsp(files["good.der"], leaf.serial_number, pki.sub.cert, now)
    with pytest.raises(checks.Unusable, match="neither by the issuer"):
        checks.check_ocsp(files["rogue.der"], leaf.serial_number, pki.sub.cert, now)
    assert lookup_key("ocsp", "u", "k", 1) != lookup_key("ocsp", "u", "k", 2)


def test_revalidation_uses_the_kept_answers_while_the_ca_is_unreachable(
    client, world: World, sessions, outside: Outside
) -> None:
    signer = outside.pki.signer(outside.pki.leaf(World.OWN))
    r = submit(client, world, signer)
    first = report_of(client, world, r)
    with outside.server.lock:
        outside.server.routes.clear()  # the CA's server now answers 404 to everything
    outside.server.reset_counts()
    again = client.post(
        f"/api/v1/documents/{r.json()['id']}/validation", headers=world.auth("auditor")
    )
    assert again.status_code == 200, again.text
    report = again.json()["report"]
    assert report["indication"] == "TOTAL_PASSED"
    assert outside.server.fetches() == 0
    assert [e["sha256"] for e in report["revocation_data"]] == [
        e["sha256"] for e in first["revocation_data"]
    ]


def test_edxml_validate_fetches_like_submission(client, world: World, outside: Outside) -> None:
    from app.edxml import serialize
    from tests.revocation.conftest import signed_document

    signer = outside.pki.signer(outside.pki.leaf(World.OWN), with_intermediate=False)
    xml = serialize(signed_document(signer, World.OWN, [World.OWN2]))
    r = client.post(
        "/api/v1/edxml/validate",
        content=xml,
        headers=world.auth("system") | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 200, r.text
    signature = r.json()["signature"]
    assert signature["indication"] == "TOTAL_PASSED", signature
    assert dict(outside.server.hits) == {"/sub.cer": 1, "/ocsp": 1, "/root.crl": 1}
    assert {e["url"] for e in signature["revocation_data"]} == {
        f"{outside.server.url}/ocsp",
        f"{outside.server.url}/root.crl",
    }
