"""Re-validation "a year later" (SPEC 5.2): the kept RFC 3161 token is the proof of existence,
so a certificate that expired or was revoked after its gen_time still passes, and one revoked
(back-dated) before it does not. The clock is moved by handing `now` in."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from sqlalchemy import select

from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from app.documents.models import Document, ValidationRecord
from app.documents.validation import revalidate
from app.edxml import parse_file
from app.keys.caches import ISSUING
from app.keys.models import CaMaterial, RevokedCertificate
from app.signing import pki, validate
from app.signing.timestamps import imprint_of
from tests.conftest import World
from tests.factories import document_json

DOCS = "/api/v1/documents"
YEAR = dt.timedelta(days=365)


def _submit(client: Any, world: World, number: str | None = None) -> dict[str, Any]:
    r = client.post(
        DOCS,
        json=document_json(world.OWN, [world.OWN2], number=number),
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def _report(client: Any, world: World, doc_id: str) -> dict[str, Any]:
    r = client.get(f"{DOCS}/{doc_id}/validation", headers=world.auth("auditor"))
    assert r.status_code == 200, r.text
    return dict(r.json()["report"])


# -- re-validation a year later --------------------------------------------------------------


def _short_lived_key(app: Any, sessions: Any, world: World, days: int = 2) -> x509.Certificate:
    """OWN signs with a certificate that expires `days` from now."""
    custody = app.state.hub.custody
    with unit_of_work(sessions) as s:
        ca = s.get(CaMaterial, ISSUING)
        assert ca is not None
        ca_cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
        key, cert = pki.issue_org_certificate(
            custody.caches.ca_key(ca),
            ca_cert,
            world.OWN,
            "Sở Nội vụ",
            not_after=utcnow().replace(microsecond=0) + dt.timedelta(days=days),
        )
        custody.install_key(s, world.OWN, key, cert, actor="test")
    return cert


def _gen_time(report: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(report["timestamp"]["gen_time"].replace("Z", "+00:00"))


def _revalidate(app: Any, sessions: Any, doc_id: str, now: dt.datetime) -> dict[str, Any]:
    with unit_of_work(sessions) as s:
        doc = s.get(Document, doc_id)
        assert doc is not None
        rec = revalidate(s, app.state.hub, doc, actor="test", now=now)
        return dict(rec.report)


def test_a_year_later_a_certificate_expired_after_the_timestamp_still_passes(
    client: Any, world: World, app: Any, sessions: Any
) -> None:
    cert = _short_lived_key(app, sessions, world)
    doc = _submit(client, world)
    first = _report(client, world, doc["id"])
    gen_time = _gen_time(first)
    year_later = utcnow() + YEAR
    assert cert.not_valid_after_utc < year_later

    again = _revalidate(app, sessions, doc["id"], year_later)
    assert again["indication"] == "TOTAL_PASSED", again["errors"]
    assert again["best_signature_time"] == first["timestamp"]["gen_time"]
    assert again["timestamp"] == first["timestamp"]
    assert again["validated_at"].startswith(year_later.date().isoformat())

    # Without that proof of existence the same signature does not pass a year later (no CRL is
    # fresh then, and the certificate has expired).
    with unit_of_work(sessions) as s:
        stored = s.get(Document, doc["id"])
        assert stored is not None
        with app.state.hub.blobs.as_path(s, stored.blob) as path:
            root = parse_file(path, max_bytes=10**8).root
        bare = validate(
            root,
            expected_organ_id=world.OWN,
            trust=app.state.hub.custody.trust_store(s),
            at=year_later,
            now=year_later,
        )
    assert not bare.passed and bare.indication == "INDETERMINATE"
    assert gen_time < cert.not_valid_after_utc


def test_a_year_later_a_revocation_after_the_timestamp_passes_one_before_does_not(
    client: Any, world: World, app: Any, sessions: Any
) -> None:
    custody = app.state.hub.custody
    cert = _short_lived_key(app, sessions, world)
    after = _submit(client, world, number="1/after")
    gen_after = _gen_time(_report(client, world, after["id"]))
    year_later = utcnow() + YEAR

    # Revoked six months after the token (the CRL a year later lists it so).
    with unit_of_work(sessions) as s:
        s.add(
            RevokedCertificate(
                serial=format(cert.serial_number, "x"),
                organ_id=world.OWN,
                revoked_at=gen_after + dt.timedelta(days=180),
                reason="keyCompromise",
            )
        )
        s.flush()
        custody.publish_crls(s, actor="test")
    passed = _revalidate(app, sessions, after["id"], year_later)
    assert passed["indication"] == "TOTAL_PASSED", passed["errors"]
    assert (
        passed["best_signature_time"] == _report(client, world, after["id"])["best_signature_time"]
    )

    # A new key; a document; then that key revoked, back-dated (`--since`) before its token.
    cert2 = _short_lived_key(app, sessions, world)
    before = _submit(client, world, number="2/before")
    gen_before = _gen_time(_report(client, world, before["id"]))
    with unit_of_work(sessions) as s:
        serials = custody.revoke(
            s, world.OWN, actor="test", revoked_at=gen_before - dt.timedelta(minutes=1)
        )
    assert serials == [format(cert2.serial_number, "x")]
    failed = _revalidate(app, sessions, before["id"], year_later)
    assert failed["indication"] == "TOTAL_FAILED"
    assert failed["sub_indication"] == "REVOKED"
    assert (
        failed["best_signature_time"]
        == _report(client, world, before["id"])["timestamp"]["gen_time"]
    )


def test_a_kept_token_that_no_longer_matches_is_not_proof(
    client: Any, world: World, app: Any, sessions: Any
) -> None:
    doc = _submit(client, world)
    with unit_of_work(sessions) as s:
        rec = s.scalars(
            select(ValidationRecord).where(ValidationRecord.document == doc["id"])
        ).one()
        other = app.state.hub.custody.timestamp_authority(s).stamp(imprint_of(b"another signature"))
        rec.report = {**rec.report, "timestamp": other.to_dict()}
    again = _revalidate(app, sessions, doc["id"], utcnow())
    assert again["indication"] == "TOTAL_PASSED"
    assert again["timestamp"] is None
    assert any(w["code"] == "timestamp.invalid" for w in again["warnings"])
    with unit_of_work(sessions) as s:
        stored = s.get(Document, doc["id"])
        assert stored is not None
        accepted = stored.accepted_at
    assert again["best_signature_time"].startswith(accepted.date().isoformat())
