"""The directory and each organization's active signing key are reused for at most
DIRECTORY_CACHE_SECONDS (`app.core.recent`): a change committed by another process (here: rows
written through another session, without the directory or key services) acts within that
bound, one made through this process's services at once. The clock is moved, never slept."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.core.timeutil import utcnow
from app.directory.models import Organization
from app.keys.models import RevokedCertificate, SigningKey
from app.signing import pki
from tests.conftest import World
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

DOCS = "/api/v1/documents"
ORGS = "/api/v1/organizations"
BOUND = 1.0  # DIRECTORY_CACHE_SECONDS by default


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: Any) -> Clock:
    clock = Clock()
    hub = app.state.hub
    assert hub.settings.directory_cache_seconds == BOUND
    hub.directory.recent.clock = clock
    hub.custody.caches.active_keys.clock = clock
    return clock


def _send(client: Any, world: World, to: str = World.OWN2) -> Any:
    return client.post(DOCS, json=document_json(world.OWN, [to]), headers=world.auth("system"))


def _serial(answer: Any) -> str:
    assert answer.status_code == 202, answer.text
    return str(answer.json()["signature"]["signed_by"]["serial"])


def _elsewhere(sessions: sessionmaker[Session], *statements: Any) -> None:
    """What another process's committed change looks like to this one: rows, no service."""
    with sessions() as s:
        for statement in statements:
            if isinstance(statement, list):
                s.add_all(statement)
            else:
                s.execute(statement)
        s.commit()


def _deactivate(organ_id: str) -> Any:
    return update(Organization).where(Organization.organ_id == organ_id).values(active=False)


# -- the directory ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["recipient", "sender"])
def test_a_deactivation_elsewhere_acts_within_the_bound(
    client, world: World, sessions, clock: Clock, who: str
) -> None:
    assert _send(client, world).status_code == 202  # the directory is read here, at t0
    _elsewhere(sessions, _deactivate(world.OWN2 if who == "recipient" else world.OWN))
    clock.now += BOUND - 0.01
    still = _send(client, world)
    assert still.status_code == 202, still.text  # the process's snapshot, not yet too old
    clock.now += 0.01
    refused = _send(client, world)
    assert refused.status_code == 422
    code = "organization.inactive" if who == "recipient" else "organization.unknown"
    assert refused.json()["code"] == code


def test_a_deactivation_in_this_process_acts_at_once(client, world: World, clock: Clock) -> None:
    assert _send(client, world).status_code == 202
    gone = client.delete(f"{ORGS}/{world.OWN2}", headers=world.auth("admin"))
    assert gone.status_code == 200 and gone.json()["active"] is False
    refused = _send(client, world)  # the clock has not moved
    assert refused.status_code == 422 and refused.json()["code"] == "organization.inactive"
    back = client.patch(f"{ORGS}/{world.OWN2}", json={"active": True}, headers=world.auth("admin"))
    assert back.status_code == 200, back.text
    assert _send(client, world).status_code == 202


def test_an_organization_created_elsewhere_is_found_at_once(
    client, world: World, sessions, clock: Clock
) -> None:
    """The snapshot lacks it: an entry the snapshot does not hold is read, not refused."""
    new = "000.00.07.H39"
    assert _send(client, world).status_code == 202
    _elsewhere(sessions, [Organization(organ_id=new, name="Sở Y tế", level=3)])
    answer = _send(client, world, to=new)
    assert answer.status_code == 202, answer.text
    assert [d["organ_id"] for d in answer.json()["deliveries"]] == [new]


def test_with_no_bound_every_submission_reads_the_directory(
    client, app, world: World, sessions, clock: Clock
) -> None:
    from app.directory.cache import DirectoryCache

    app.state.hub.directory = DirectoryCache(0, clock)
    assert _send(client, world).status_code == 202
    _elsewhere(sessions, _deactivate(world.OWN2))
    assert _send(client, world).json()["code"] == "organization.inactive"


# -- the active signing key ---------------------------------------------------------------------


def _new_key(s: Session, app: Any, organ_id: str) -> SigningKey:
    """A key and certificate as another process's rotation would have written them."""
    custody = app.state.hub.custody
    key, cert, _ = custody.issue_detached(s, organ_id, "Sở Nội vụ")
    passphrase = app.state.hub.settings.key_passphrase.get_secret_value()
    return SigningKey(
        organ_id=organ_id,
        key_type="rsa",
        private_key_enc=pki.encrypt_private_key(key, passphrase).decode(),
        certificate_pem=pki.cert_to_pem(cert).decode(),
        serial=format(cert.serial_number, "x"),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        created_at=utcnow(),
    )


def _active(sessions: sessionmaker[Session], organ_id: str) -> str:
    with sessions() as s:
        return str(
            s.scalars(
                select(SigningKey.serial).where(
                    SigningKey.organ_id == organ_id, SigningKey.active.is_(True)
                )
            ).one()
        )


def _retire(organ_id: str) -> Any:
    return (
        update(SigningKey)
        .where(SigningKey.organ_id == organ_id, SigningKey.active.is_(True))
        .values(active=False, retired_at=utcnow())
    )


def test_a_rotation_elsewhere_acts_within_the_bound(
    client, app, world: World, sessions, clock: Clock
) -> None:
    old = _serial(_send(client, world))
    with sessions() as s:
        row = _new_key(s, app, world.OWN)
    _elsewhere(sessions, _retire(world.OWN), [row])
    assert _active(sessions, world.OWN) == row.serial != old
    clock.now += BOUND - 0.01
    assert _serial(_send(client, world)) == old  # within the bound: the key this process knew
    clock.now += 0.01
    assert _serial(_send(client, world)) == row.serial


def test_a_revocation_elsewhere_stops_signing_at_the_bound(
    client, world: World, sessions, clock: Clock
) -> None:
    old = _serial(_send(client, world))
    revoked = [RevokedCertificate(serial=old, organ_id=world.OWN, revoked_at=utcnow())]
    _elsewhere(sessions, _retire(world.OWN), revoked)  # revoked, no successor
    clock.now += BOUND - 0.01
    assert _serial(_send(client, world)) == old
    clock.now += 0.01
    refused = _send(client, world)
    assert refused.status_code == 503 and refused.json()["code"] == "signing.unavailable"


def test_a_rotation_or_revocation_in_this_process_acts_at_once(
    client, world: World, sessions, clock: Clock
) -> None:
    admin = world.auth("admin")
    old = _serial(_send(client, world))
    rotated = client.post(f"{ORGS}/{world.OWN}/keys", json={}, headers=admin)
    assert rotated.status_code in (200, 201), rotated.text
    new = _serial(_send(client, world))  # the clock has not moved
    assert new != old and new == _active(sessions, world.OWN)
    revoked = client.post(f"{ORGS}/{world.OWN}/keys/revoke", json={"reissue": False}, headers=admin)
    assert revoked.status_code == 200, revoked.text
    refused = _send(client, world)
    assert refused.status_code == 503 and refused.json()["code"] == "signing.unavailable"


def test_the_bound_is_at_most_one_second() -> None:
    from pydantic import ValidationError

    from app.core.config import Settings

    with pytest.raises(ValidationError, match="directory_cache_seconds"):
        Settings(_env_file=None, directory_cache_seconds=1.5)
    assert Settings(_env_file=None).directory_cache_seconds == BOUND
