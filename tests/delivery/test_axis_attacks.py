"""Hostile traffic from the national axis (issue 11), driven through the mock axis over HTTP and
the worker's inbound poll, on SQLite and PostgreSQL.

Each attack asserts the refusal or quarantine, that nothing is stored, delivered or edited that
should not be, that the refusal is in the audit log, and that legitimate traffic beside it is
still served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.audit.models import AuditEntry
from app.core.db import unit_of_work
from app.core.errors import HubError
from app.delivery.models import AxisReceipt, Delivery
from app.directory.models import Organization
from app.documents import axis_trust
from app.documents.models import Document, StatusMessage
from app.edxml import EdxmlDocument, build_document_tree, build_status_tree, serialize
from app.edxml import StatusMessage as EdxmlStatus
from app.mock_axis.server import MockAxisServer, create_mock_app
from app.mock_axis.state import SystemConfig
from app.signing import pki
from app.signing.xmldsig import Signer, sign_tree
from app.worker import Worker
from tests.conftest import PkiMaterial, World
from tests.delivery.conftest import HUB, OTHER, VPCP, connector
from tests.delivery.test_worker import drain
from tests.factories import document_id_of, document_json

pytestmark = pytest.mark.rolled_back

DOCS = "/api/v1/documents"
UNKNOWN = "000.00.00.H43"
# A system on the axis that (misconfigured or compromised) claims a code of this hub's province
# and serves an organization the hub's directory does not know.
ROGUE = SystemConfig(
    systemid="rogue", secret="rogue-secret", organ_ids=[World.OWN, UNKNOWN], name="Rogue"
)


@pytest.fixture(scope="module")
def hostile_axis() -> Iterator[MockAxisServer]:
    server = MockAxisServer.start(create_mock_app([HUB, VPCP, OTHER, ROGUE]))
    yield server
    server.stop()


@pytest.fixture
def axis_url(hostile_axis: MockAxisServer) -> str:
    httpx.delete(f"{hostile_axis.url}/_mock/messages")
    return hostile_axis.url


@pytest.fixture
def worker(app: Any, axis_url: str) -> Worker:
    return Worker(app.state.hub, app.state.sessionmaker, axis=connector(axis_url, HUB))


def signer(pki_material: PkiMaterial, organ: str) -> Signer:
    key, cert = pki_material.leaves[organ]
    return Signer(key, cert, [pki_material.issuing[1]])


def send(
    axis_url: str,
    system: SystemConfig,
    root: Any,
    to: list[str],
    *,
    axis_from: str | None = None,
    message_type: str = "edoc",
) -> str:
    """Hand a message to the axis as `system`; `axis_from` is the `from` header it declares."""
    return connector(axis_url, system).send_edoc(
        serialize(root),
        from_organ=axis_from or system.organ_ids[0],
        to=to,
        message_type=message_type,  # type: ignore[arg-type]
    )


def document_root(body: dict[str, Any], by: Signer | None) -> Any:
    root = build_document_tree(EdxmlDocument.model_validate(body).with_document_id())
    if by is not None:
        sign_tree(root, by)
    return root


def status_root(
    from_organ: str, document_id: str, code: str, by: Signer | None, *, sender: str = World.OWN
) -> Any:
    msg = EdxmlStatus.model_validate(
        {
            "from": {"organ_id": from_organ},
            "response_for": {"organ_id": sender, "document_id": document_id},
            "status_code": code,
            "description": "Trạng thái",
            "timestamp": "2026-11-26T10:00:00",
        }
    )
    root = build_status_tree(msg)
    if by is not None:
        sign_tree(root, by)
    return root


def refusals(sessions: Any) -> list[tuple[str, str]]:
    """(action, code) of every refusal of axis traffic in the audit log."""
    with sessions() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(("status.refused", "document.refused")))
            .order_by(AuditEntry.seq)
        )
        return [(r.action, str(json.loads(r.details).get("code"))) for r in rows]


def count(sessions: Any, model: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def inbox(client: Any, world: World, organ: str = World.OWN) -> list[dict[str, Any]]:
    r = client.get("/api/v1/inbox", params={"organ_id": organ}, headers=world.auth("system"))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def deliveries(sessions: Any, document: str) -> dict[str, tuple[str, str | None, bool]]:
    with sessions() as s:
        return {
            d.organ_id: (d.state, d.status_code, d.revoked)
            for d in s.scalars(
                select(Delivery).where(Delivery.kind == "document", Delivery.document == document)
            )
        }


# -- 1. forged status messages --------------------------------------------------------------


@dataclass(frozen=True)
class StatusAttack:
    system: SystemConfig
    axis_from: str | None
    edxml_from: str
    signed_by: str | None
    code: str
    refusal: str
    other_sender: str | None = None  # ResponseFor/OrganId, when it is not the real sender
    other_document: bool = False  # ResponseFor/DocumentId names a document never sent


STATUS_ATTACKS = {
    # The finding: an unsigned 06 makes the Government Office's delivery terminal.
    "unsigned 06 from the recipient's own system": StatusAttack(
        VPCP, None, World.EXTERNAL, None, "06", "signature.invalid"
    ),
    "02 signed by another organization than From": StatusAttack(
        VPCP, None, World.EXTERNAL, World.OTHER_PROVINCE, "02", "signature.invalid"
    ),
    # The finding: From = the Government Office, sent by another system, rejected its delivery.
    "unsigned 02 in the name of an organization the system does not serve": StatusAttack(
        OTHER, None, World.EXTERNAL, None, "02", "axis.from_mismatch"
    ),
    "a genuine signed 06 replayed by a system that does not serve its From": StatusAttack(
        OTHER, None, World.EXTERNAL, World.EXTERNAL, "06", "axis.from_mismatch"
    ),
    # Before: the hub signed this with the local organization's own key.
    "unsigned 03 from a local organization": StatusAttack(
        ROGUE, World.OWN, World.OWN, None, "03", "axis.local_from"
    ),
    "13 (take back) in the name of the local sender": StatusAttack(
        ROGUE, World.OWN, World.OWN, World.OWN, "13", "axis.local_from"
    ),
    "signed 06 from an organization the document was never sent to": StatusAttack(
        OTHER, None, World.OTHER_PROVINCE, World.OTHER_PROVINCE, "06", "axis.unknown_target"
    ),
    "signed 02 naming another local sender in ResponseFor": StatusAttack(
        VPCP,
        None,
        World.EXTERNAL,
        World.EXTERNAL,
        "02",
        "axis.unknown_target",
        other_sender=World.OWN2,
    ),
    "signed 05 for a DocumentId never sent": StatusAttack(
        VPCP, None, World.EXTERNAL, World.EXTERNAL, "05", "axis.unknown_target", other_document=True
    ),
    "signed 15 with no revoke or update pending": StatusAttack(
        VPCP, None, World.EXTERNAL, World.EXTERNAL, "15", "status.transition"
    ),
}


@pytest.mark.parametrize("case", list(STATUS_ATTACKS), ids=list(STATUS_ATTACKS))
def test_forged_status_is_refused_and_changes_nothing(
    case: str,
    client: Any,
    world: World,
    sessions: Any,
    worker: Worker,
    axis_url: str,
    pki_material: PkiMaterial,
) -> None:
    attack = STATUS_ATTACKS[case]
    doc = client.post(
        DOCS, json=document_json(world.OWN, [world.EXTERNAL]), headers=world.auth("system")
    ).json()
    drain(worker, sessions)
    before = deliveries(sessions, doc["id"])
    assert before == {world.EXTERNAL: ("delivered", None, False)}
    target = f"{doc['document_id']}-x" if attack.other_document else doc["document_id"]
    root = status_root(
        attack.edxml_from,
        target,
        attack.code,
        signer(pki_material, attack.signed_by) if attack.signed_by else None,
        sender=attack.other_sender or world.OWN,
    )
    send(
        axis_url,
        attack.system,
        root,
        [world.OWN],
        axis_from=attack.axis_from,
        message_type="status",
    )
    drain(worker, sessions)

    assert refusals(sessions) == [("status.refused", attack.refusal)]
    assert deliveries(sessions, doc["id"]) == before
    assert count(sessions, StatusMessage) == 0  # nothing stored, nothing signed by the hub
    assert inbox(client, world) == []
    assert connector(axis_url, HUB).get_received_list("status") == []  # acknowledged
    with sessions() as s:
        assert [r.outcome for r in s.scalars(select(AxisReceipt))] == ["refused"]

    # The real recipient's genuine status beside the attack is still served.
    genuine = status_root(
        world.EXTERNAL, doc["document_id"], "03", signer(pki_material, world.EXTERNAL)
    )
    send(axis_url, VPCP, genuine, [world.OWN], message_type="status")
    drain(worker, sessions)
    assert deliveries(sessions, doc["id"]) == {world.EXTERNAL: ("delivered", "03", False)}
    assert [(i["message_type"], i["status_code"], i["from"]) for i in inbox(client, world)] == [
        ("status", "03", world.EXTERNAL)
    ]


# -- 2. forged copies must not pre-empt the real document ----------------------------------


def test_forged_copy_does_not_preempt_the_real_document(
    client: Any,
    world: World,
    sessions: Any,
    worker: Worker,
    axis_url: str,
    pki_material: PkiMaterial,
) -> None:
    body = document_json(world.OTHER_PROVINCE, [world.OWN])
    forged = document_root(body | {"subject": "Giả mạo"}, signer(pki_material, world.EXTERNAL))
    send(axis_url, OTHER, forged, [world.OWN])
    drain(worker, sessions)
    with sessions() as s:
        quarantined = s.scalars(select(Document).where(Document.quarantined.is_(True))).one()
        assert quarantined.document_id == document_id_of(body)
    assert inbox(client, world) == []

    send(
        axis_url,
        OTHER,
        document_root(body, signer(pki_material, world.OTHER_PROVINCE)),
        [world.OWN],
    )
    drain(worker, sessions)
    items = inbox(client, world)
    assert [(i["document_id"], i["subject"], i["message_type"]) for i in items] == [
        (document_id_of(body), body["subject"], "document")
    ]
    real = client.get(f"{DOCS}/{items[0]['document']}", headers=world.auth("auditor")).json()
    assert real["signature"]["indication"] == "TOTAL_PASSED"
    with sessions() as s:
        assert sorted(r.outcome for r in s.scalars(select(AxisReceipt))) == [
            "delivered",
            "quarantined",
        ]

    # The same real document listed again as a new axis item is a duplicate: dropped, audited.
    send(
        axis_url,
        OTHER,
        document_root(body, signer(pki_material, world.OTHER_PROVINCE)),
        [world.OWN],
    )
    drain(worker, sessions)
    assert len(inbox(client, world)) == 1
    with sessions() as s:
        dup = s.scalars(select(AuditEntry).where(AuditEntry.action == "document.duplicate")).one()
        assert dup.target_id == items[0]["document"]
        assert json.loads(dup.details)["from"] == world.OTHER_PROVINCE


def test_forged_copy_of_a_local_senders_document_does_not_block_its_submission(
    client: Any, world: World, sessions: Any, worker: Worker, axis_url: str
) -> None:
    body = document_json(world.OWN, [world.OWN2])
    # DocumentIds are predictable: the attacker sends the local sender's next one first.
    send(axis_url, ROGUE, document_root(body, None), [world.OWN2], axis_from=world.OWN)
    drain(worker, sessions)
    assert refusals(sessions) == [("document.refused", "axis.local_from")]
    assert count(sessions, Document) == 0
    assert inbox(client, world, world.OWN2) == []

    r = client.post(DOCS, json=body, headers=world.auth("system"))
    assert r.status_code == 202, r.text
    assert r.json()["document_id"] == document_id_of(body)
    assert [i["document_id"] for i in inbox(client, world, world.OWN2)] == [document_id_of(body)]


def test_quarantined_rows_hold_no_key_in_the_database(world: World, sessions: Any) -> None:
    """The partial unique index (migration 0005): quarantined copies may share a key with each
    other and with the real document; two real documents may not."""

    def row(quarantined: bool) -> Document:
        return Document(
            document_id="000.00.00.H42,2026/11/20,1/UBND-VX",
            from_organ=World.OTHER_PROVINCE,
            subject="s",
            code="1/UBND-VX",
            to_organs=[World.OWN],
            origin="vpcp",
            blob="0" * 64,
            size=1,
            quarantined=quarantined,
        )

    with unit_of_work(sessions) as s:
        s.add_all([row(True), row(True), row(False)])
    with pytest.raises(IntegrityError), unit_of_work(sessions) as s:
        s.add(row(False))
    assert count(sessions, Document) == 3


# -- 4. the directory is never edited from unverified input --------------------------------


def test_unsigned_document_from_an_unknown_organization_creates_no_directory_entry(
    client: Any,
    world: World,
    sessions: Any,
    worker: Worker,
    axis_url: str,
    pki_material: PkiMaterial,
) -> None:
    organizations = count(sessions, Organization)
    body = document_json(UNKNOWN, [world.OWN]) | {
        "from": {"organ_id": UNKNOWN, "organ_name": "Cơ quan do kẻ tấn công đặt tên"}
    }
    send(axis_url, ROGUE, document_root(body, None), [world.OWN], axis_from=UNKNOWN)
    drain(worker, sessions)
    assert refusals(sessions) == [("document.refused", "signature.invalid")]
    assert count(sessions, Organization) == organizations
    assert count(sessions, Document) == 0
    assert (
        client.get(f"/api/v1/organizations/{UNKNOWN}", headers=world.auth("admin")).status_code
        == 404
    )
    assert inbox(client, world) == []

    # A known sender's genuine document beside it is delivered.
    send(
        axis_url,
        OTHER,
        document_root(
            document_json(world.OTHER_PROVINCE, [world.OWN]),
            signer(pki_material, world.OTHER_PROVINCE),
        ),
        [world.OWN],
    )
    drain(worker, sessions)
    assert [i["from"] for i in inbox(client, world)] == [world.OTHER_PROVINCE]


def test_forged_document_never_renames_a_known_organization(
    client: Any, world: World, sessions: Any, worker: Worker, axis_url: str
) -> None:
    before = client.get(
        f"/api/v1/organizations/{world.OTHER_PROVINCE}", headers=world.auth("admin")
    ).json()
    body = document_json(world.OTHER_PROVINCE, [world.OWN]) | {
        "from": {"organ_id": world.OTHER_PROVINCE, "organ_name": "Tên do kẻ tấn công đặt"}
    }
    send(axis_url, OTHER, document_root(body, None), [world.OWN])
    drain(worker, sessions)
    after = client.get(
        f"/api/v1/organizations/{world.OTHER_PROVINCE}", headers=world.auth("admin")
    ).json()
    assert after == before
    with sessions() as s:
        assert s.scalars(select(Document.quarantined)).all() == [True]
        assert (
            s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.action.like("organization.%"), AuditEntry.actor.like("axis%")
                )
            ).all()
            == []
        )


def test_verified_document_from_an_unknown_organization_adds_it_as_external(
    client: Any,
    world: World,
    sessions: Any,
    worker: Worker,
    axis_url: str,
    pki_material: PkiMaterial,
) -> None:
    key, cert = pki.issue_org_certificate(
        pki_material.issuing[0], pki_material.issuing[1], UNKNOWN, "UBND tỉnh Quảng Bình"
    )
    body = document_json(UNKNOWN, [world.OWN]) | {
        "from": {"organ_id": UNKNOWN, "organ_name": "UBND tỉnh Quảng Bình"}
    }
    send(
        axis_url,
        ROGUE,
        document_root(body, Signer(key, cert, [pki_material.issuing[1]])),
        [world.OWN],
        axis_from=UNKNOWN,
    )
    drain(worker, sessions)
    org = client.get(f"/api/v1/organizations/{UNKNOWN}", headers=world.auth("admin")).json()
    assert (org["name"], org["route"], org["active"]) == ("UBND tỉnh Quảng Bình", "vpcp", True)
    assert [(i["from"], i["document_id"]) for i in inbox(client, world)] == [
        (UNKNOWN, document_id_of(body))
    ]
    with sessions() as s:
        created = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "organization.created", AuditEntry.target_id == UNKNOWN
            )
        ).one()
        assert created.actor == f"axis:{UNKNOWN}"


# -- business types whose targets are documents of others ----------------------------------


def test_revoke_update_replace_from_the_axis_cannot_touch_documents_of_others(
    client: Any,
    world: World,
    sessions: Any,
    worker: Worker,
    axis_url: str,
    pki_material: PkiMaterial,
) -> None:
    own = client.post(
        DOCS, json=document_json(world.OWN, [world.OWN2]), headers=world.auth("system")
    ).json()
    genuine = document_json(world.OTHER_PROVINCE, [world.OWN])
    send(
        axis_url,
        OTHER,
        document_root(genuine, signer(pki_material, world.OTHER_PROVINCE)),
        [world.OWN],
    )
    drain(worker, sessions)
    first = {i["document_id"]: i["document"] for i in inbox(client, world)}[document_id_of(genuine)]

    # Signed by the other province itself, but naming a document of this hub's OWN.
    revoke_other = document_json(
        world.OTHER_PROVINCE,
        [world.OWN],
        business={"business_doc_type": 1, "business_doc_reason": "Thu hồi"},
        response_for=[{"organ_id": world.OWN, "document_id": own["document_id"]}],
    )
    send(
        axis_url,
        OTHER,
        document_root(revoke_other, signer(pki_material, world.OTHER_PROVINCE)),
        [world.OWN],
    )
    update_other = document_json(
        world.OTHER_PROVINCE,
        [world.OWN],
        business={
            "business_doc_type": 2,
            "document_id": own["document_id"],
            "document_info": {"receivers": [{"organ_id": world.OWN2, "receiver_type": 1}]},
        },
    )
    send(
        axis_url,
        OTHER,
        document_root(update_other, signer(pki_material, world.OTHER_PROVINCE)),
        [world.OWN],
    )
    replace_other = document_json(
        world.OTHER_PROVINCE,
        [world.OWN],
        business={
            "business_doc_type": 3,
            "replacement_infos": [{"document_id": own["document_id"], "organ_ids": [world.OWN2]}],
        },
    )
    send(
        axis_url,
        OTHER,
        document_root(replace_other, signer(pki_material, world.OTHER_PROVINCE)),
        [world.OWN],
    )
    # Unsigned, naming the sender's own document: quarantined, the target untouched.
    revoke_unsigned = document_json(
        world.OTHER_PROVINCE,
        [world.OWN],
        business={"business_doc_type": 1, "business_doc_reason": "Thu hồi"},
        response_for=[{"organ_id": world.OTHER_PROVINCE, "document_id": document_id_of(genuine)}],
    )
    send(axis_url, OTHER, document_root(revoke_unsigned, None), [world.OWN])
    drain(worker, sessions)

    assert refusals(sessions) == [("document.refused", "document.unknown_target")] * 3
    assert deliveries(sessions, own["id"]) == {world.OWN2: ("available", None, False)}
    assert deliveries(sessions, first) == {world.OWN: ("available", None, False)}
    with sessions() as s:
        assert sorted(r.outcome for r in s.scalars(select(AxisReceipt))) == [
            "delivered",
            "quarantined",
            "refused",
            "refused",
            "refused",
        ]
    assert [i["document"] for i in inbox(client, world)] == [first]


def test_update_from_the_axis_never_redelivers_a_quarantined_copy(
    client: Any,
    world: World,
    sessions: Any,
    worker: Worker,
    axis_url: str,
    pki_material: PkiMaterial,
) -> None:
    body = document_json(world.OTHER_PROVINCE, [world.OWN])
    send(axis_url, OTHER, document_root(body, None), [world.OWN])  # forged, quarantined
    drain(worker, sessions)
    with sessions() as s:
        forged = s.scalars(select(Document.id).where(Document.quarantined.is_(True))).one()
    update = document_json(
        world.OTHER_PROVINCE,
        [world.OWN],
        business={
            "business_doc_type": 2,
            "document_id": document_id_of(body),
            "document_info": {"receivers": [{"organ_id": world.OWN2, "receiver_type": 0}]},
        },
    )
    send(
        axis_url,
        OTHER,
        document_root(update, signer(pki_material, world.OTHER_PROVINCE)),
        [world.OWN],
    )
    drain(worker, sessions)
    assert refusals(sessions) == [("document.refused", "document.unknown_target")]
    assert deliveries(sessions, forged) == {world.OWN: ("rejected", "02", False)}
    assert inbox(client, world, world.OWN2) == []


def test_sender_rules_when_the_axis_names_no_from(world: World, sessions: Any) -> None:
    """An axis that lists no `from` leaves the signature to decide; a local From is still refused."""
    with sessions() as s:
        assert axis_trust.check_sender(s, "", world.EXTERNAL) is not None
        assert axis_trust.check_sender(s, "", UNKNOWN) is None
        with pytest.raises(HubError) as local:
            axis_trust.check_sender(s, "", world.OWN)
        assert local.value.code == "axis.local_from"
        with pytest.raises(HubError) as mismatch:
            axis_trust.check_sender(s, world.OTHER_PROVINCE, world.EXTERNAL)
        assert mismatch.value.code == "axis.from_mismatch"


def test_a_replayed_genuine_status_is_dropped_and_audited(
    client: Any,
    world: World,
    sessions: Any,
    worker: Worker,
    axis_url: str,
    pki_material: PkiMaterial,
) -> None:
    """A genuine 15 replayed later must not answer the sender's next 13."""
    doc = client.post(
        DOCS, json=document_json(world.OWN, [world.EXTERNAL]), headers=world.auth("system")
    ).json()
    drain(worker, sessions)

    def take_back() -> None:
        r = client.post(
            f"{DOCS}/{doc['id']}/statuses",
            json={"organ_id": world.OWN, "code": "13", "description": "Thu hồi"},
            headers=world.auth("system"),
        )
        assert r.status_code == 202, r.text
        drain(worker, sessions)

    def pending() -> str | None:
        with sessions() as s:
            change: str | None = s.scalars(
                select(Delivery.pending_change).where(
                    Delivery.kind == "document", Delivery.document == doc["id"]
                )
            ).one()
        return change

    take_back()
    answer = status_root(
        world.EXTERNAL, doc["document_id"], "15", signer(pki_material, world.EXTERNAL)
    )
    send(axis_url, VPCP, answer, [world.OWN], message_type="status")
    drain(worker, sessions)
    assert pending() is None
    take_back()
    assert pending() == "13"
    send(axis_url, VPCP, answer, [world.OWN], message_type="status")  # the same bytes again
    drain(worker, sessions)
    assert pending() == "13"
    with sessions() as s:
        assert s.scalars(
            select(StatusMessage.code).where(StatusMessage.origin == "vpcp")
        ).all() == ["15"]
        assert sorted(r.outcome for r in s.scalars(select(AxisReceipt))) == [
            "delivered",
            "duplicate",
        ]
        dup = s.scalars(select(AuditEntry).where(AuditEntry.action == "status.duplicate")).one()
        assert json.loads(dup.details)["from"] == world.EXTERNAL


def test_forged_document_in_the_name_of_a_deactivated_organization_is_refused(
    client: Any, world: World, sessions: Any, worker: Worker, axis_url: str
) -> None:
    """Before: the 02 answer to an inactive sender failed the whole item, which was listed
    again at every poll. Now it is refused once, and the entry stays inactive."""
    r = client.delete(f"/api/v1/organizations/{world.OTHER_PROVINCE}", headers=world.auth("admin"))
    assert r.status_code == 200, r.text
    body = document_json(world.OTHER_PROVINCE, [world.OWN])
    send(axis_url, OTHER, document_root(body, None), [world.OWN])
    drain(worker, sessions)
    assert refusals(sessions) == [("document.refused", "signature.invalid")]
    assert count(sessions, Document) == 0
    assert connector(axis_url, HUB).get_received_list("edoc") == []
    org = client.get(
        f"/api/v1/organizations/{world.OTHER_PROVINCE}", headers=world.auth("admin")
    ).json()
    assert org["active"] is False
