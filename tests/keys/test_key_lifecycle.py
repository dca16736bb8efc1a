"""Keys for every local organization, always (SPEC 5 "Keys", section 4): issued when the
organization is created over the API, rotated and revoked by an admin (a successor issued
unless told not to), every change audited and the CRL republished."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from cryptography import x509
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.cli import main as cli
from app.core.timeutil import LOCAL_TZ, utcnow
from app.keys.models import SigningKey
from tests.conftest import World, settled
from tests.factories import document_json
from tests.keys.test_signatures_api import xmlsec1_verify

DOCS = "/api/v1/documents"
ORGS = "/api/v1/organizations"
NEW = "000.00.05.H39"


def _audit(sessions: Any, action: str, target: str) -> list[dict[str, Any]]:
    import json

    with settled(sessions) as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.target_id == target)
            .order_by(AuditEntry.seq)
        ).all()
        return [{"actor": r.actor} | json.loads(r.details) for r in rows]


def _crl(client: Any) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(client.get("/pki/crl").content)


def _submit(client: Any, world: World, organ: str, headers: dict[str, str]) -> dict[str, Any]:
    r = client.post(DOCS, json=document_json(organ, [world.OWN2]), headers=headers)
    assert r.status_code == 202, r.text
    return dict(r.json())


def test_an_organization_created_over_the_api_sends_at_once(
    client, world: World, sessions, tmp_path: Path
) -> None:
    admin = world.auth("admin")
    r = client.post(
        ORGS,
        json={"organ_id": NEW, "name": "Sở Tư pháp", "parent_id": world.PROVINCE},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    cert = r.json()["certificate"]
    assert cert is not None and f"2.5.4.97={NEW}" in cert["subject"]
    assert client.get(f"{ORGS}/{NEW}", headers=admin).json()["certificate"] == cert
    issued = _audit(sessions, "key.issued", NEW)
    assert [(e["actor"], e["serial"]) for e in issued] == [
        (f"client:{world.client_ids['admin']}", cert["serial"])
    ]

    made = client.post(
        "/api/v1/clients",
        json={"name": "qlvb-tp", "role": "system", "organ_ids": [NEW]},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    system = {"Authorization": f"Bearer {made.json()['api_key']}"}
    doc = _submit(client, world, NEW, system)
    assert doc["signature"]["indication"] == "TOTAL_PASSED"
    assert doc["signature"]["signed_by"]["serial"] == cert["serial"]
    signed = client.get(f"{DOCS}/{doc['id']}/edxml", headers=system).content
    bundle = x509.load_pem_x509_certificates(client.get("/pki/ca").content)
    root = next(c for c in bundle if c.subject == c.issuer)
    ok = xmlsec1_verify(root, signed, tmp_path)
    assert ok.returncode == 0, ok.stderr

    # An organization reached through the axis holds no key here.
    ext = client.post(
        ORGS, json={"organ_id": "000.00.00.G23", "name": "Bộ Y tế", "route": "vpcp"}, headers=admin
    )
    assert ext.status_code == 201 and ext.json()["certificate"] is None
    # ... until it becomes local.
    local = client.put(
        f"{ORGS}/000.00.00.G23", json={"name": "Bộ Y tế", "route": "local"}, headers=admin
    )
    assert local.status_code == 200 and local.json()["certificate"] is not None


def test_without_a_ca_nothing_is_created(client, sessions, app) -> None:
    """The PKI is not initialised: the key cannot be issued, so the organization is not made."""
    from app.clients.schemas import ClientCreate
    from app.clients.service import create_client
    from app.core.db import unit_of_work

    with unit_of_work(sessions) as s:
        _, key = create_client(s, ClientCreate(name="admin", role="admin"), actor="test")
    r = client.post(
        ORGS,
        json={"organ_id": "000.00.00.H39", "name": "UBND tỉnh"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 503 and r.json()["code"] == "signing.unavailable"
    assert (
        client.get(f"{ORGS}/000.00.00.H39", headers={"Authorization": f"Bearer {key}"}).status_code
        == 404
    )


def test_rotation_over_the_api_supersedes_without_revoking(client, world: World, sessions) -> None:
    admin = world.auth("admin")
    old = _submit(client, world, world.OWN, world.auth("system"))
    old_serial = old["signature"]["signed_by"]["serial"]
    r = client.post(f"{ORGS}/{world.OWN}/keys", headers=admin)
    assert r.status_code == 201, r.text
    change = r.json()
    assert change["superseded"] == [old_serial] and change["revoked"] == []
    new_serial = change["certificate"]["serial"]
    assert new_serial != old_serial
    assert client.get(f"{ORGS}/{world.OWN}", headers=admin).json()["certificate"]["serial"] == (
        new_serial
    )
    new = _submit(client, world, world.OWN, world.auth("system"))
    assert new["signature"]["signed_by"]["serial"] == new_serial
    # Superseded, not revoked: the CRL does not list it and what it signed still passes.
    assert list(_crl(client)) == []
    again = client.post(f"{DOCS}/{old['id']}/validation", headers=world.auth("auditor")).json()
    assert again["report"]["indication"] == "TOTAL_PASSED"
    issued = _audit(sessions, "key.issued", world.OWN)
    assert issued[-1]["serial"] == new_serial and issued[-1]["supersedes"] == [old_serial]
    assert issued[-1]["actor"] == f"client:{world.client_ids['admin']}"
    # Errors: unknown organization, one reached through the axis.
    assert client.post(f"{ORGS}/000.00.09.H39/keys", headers=admin).status_code == 404
    ext = client.post(f"{ORGS}/{world.EXTERNAL}/keys", headers=admin)
    assert ext.status_code == 422 and ext.json()["code"] == "organization.invalid"


def test_revocation_back_dated_fails_what_was_signed_since_and_issues_a_successor(
    client, world: World, sessions
) -> None:
    admin = world.auth("admin")
    before = _submit(client, world, world.OWN, world.auth("system"))
    old_serial = before["signature"]["signed_by"]["serial"]
    since = utcnow() - timedelta(hours=1)
    r = client.post(
        f"{ORGS}/{world.OWN}/keys/revoke",
        json={"since": since.astimezone(LOCAL_TZ).isoformat(), "reason": "keyCompromise"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    change = r.json()
    assert change["revoked"] == [old_serial] and change["reason"] == "keyCompromise"
    successor = change["certificate"]["serial"]
    assert successor != old_serial
    # The CRL at /pki/crl lists it, from `since`, with its reason.
    entries = list(_crl(client))
    assert [format(e.serial_number, "x") for e in entries] == [old_serial]
    assert abs(entries[0].revocation_date_utc - since) < timedelta(seconds=1)
    reason = entries[0].extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    # Received after `since` under the revoked key: REVOKED now.
    revalidated = client.post(
        f"{DOCS}/{before['id']}/validation", headers=world.auth("auditor")
    ).json()["report"]
    assert (revalidated["indication"], revalidated["sub_indication"]) == ("TOTAL_FAILED", "REVOKED")
    # The organization goes on sending with its successor.
    after = _submit(client, world, world.OWN, world.auth("system"))
    assert after["signature"]["signed_by"]["serial"] == successor
    assert after["signature"]["indication"] == "TOTAL_PASSED"
    revoked = _audit(sessions, "certificate.revoked", world.OWN)
    assert [(e["serial"], e["reason"]) for e in revoked] == [(old_serial, "keyCompromise")]
    assert _audit(sessions, "key.issued", world.OWN)[-1]["serial"] == successor

    # Refusals change nothing: a future `since`, an unknown reason, no timezone.
    future = (utcnow() + timedelta(days=1)).isoformat()
    for body in (
        {"since": future, "reason": "keyCompromise"},
        {"reason": "stolen"},
        {"since": "2026-11-20T08:00:00"},
    ):
        bad = client.post(f"{ORGS}/{world.OWN}/keys/revoke", json=body, headers=admin)
        assert bad.status_code == 422, (body, bad.text)
    assert len(list(_crl(client))) == 1


def test_revocation_without_reissue_leaves_the_organization_unable_to_sign(
    client, world: World, sessions
) -> None:
    r = client.post(
        f"{ORGS}/{world.OWN2}/keys/revoke",
        json={"reason": "cessationOfOperation", "reissue": False},
        headers=world.auth("admin"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["certificate"] is None and len(r.json()["revoked"]) == 1
    refused = client.post(
        DOCS, json=document_json(world.OWN2, [world.OWN]), headers=world.auth("system")
    )
    assert refused.status_code == 503 and refused.json()["code"] == "signing.unavailable"
    again = client.post(f"{ORGS}/{world.OWN2}/keys/revoke", json={}, headers=world.auth("admin"))
    assert again.status_code == 404 and again.json()["code"] == "key.not_found"
    # Rotation gives it a key again.
    assert client.post(f"{ORGS}/{world.OWN2}/keys", headers=world.auth("admin")).status_code == 201
    assert (
        client.post(
            DOCS, json=document_json(world.OWN2, [world.OWN]), headers=world.auth("system")
        ).status_code
        == 202
    )


def test_cli_revoke_reissues_unless_told_not_to(
    world: World, sessions, settings, monkeypatch
) -> None:
    monkeypatch.setenv(
        "LIENTHONG_DATABASE_URL", sessions.kw["bind"].url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("LIENTHONG_KEY_PASSPHRASE", "test-passphrase")
    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()

    def active(organ: str) -> list[str]:
        with sessions() as s:
            return list(
                s.scalars(
                    select(SigningKey.serial).where(
                        SigningKey.organ_id == organ, SigningKey.active.is_(True)
                    )
                )
            )

    first = active(world.OWN)
    r = runner.invoke(cli, ["pki", "revoke", world.OWN, "--reason", "keyCompromise"])
    assert r.exit_code == 0, r.output
    successor = active(world.OWN)
    assert len(successor) == 1 and successor != first
    assert f"revoked {first[0]}" in r.output and f"issued certificate {successor[0]}" in r.output
    r = runner.invoke(cli, ["pki", "revoke", world.OWN2, "--no-reissue", "--since", "2026-01-02"])
    assert r.exit_code == 0, r.output
    assert active(world.OWN2) == [] and "issued certificate" not in r.output
    revoked = _audit(sessions, "certificate.revoked", world.OWN2)
    assert datetime.fromisoformat(revoked[0]["revoked_at"]) == datetime(2026, 1, 2, tzinfo=LOCAL_TZ)
    bad = runner.invoke(cli, ["pki", "revoke", world.OWN, "--reason", "stolen"])
    assert bad.exit_code != 0 and active(world.OWN) == successor
