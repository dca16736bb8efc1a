"""Documents signed under an outside CA (SPEC 5.1), over the API and through the mock axis: the
hub fetches OCSP answers, CRLs and missing intermediates from the URLs the certificates name,
uses only usable answers, keeps them as evidence, and ends TRY_LATER when nothing fresh can be
had, within the limits (nothing hangs).

A TRY_LATER is refused over the API with 503 `signature.try_later` and `Retry-After`, and held
from the axis (not delivered, not answered: tests/delivery/test_held.py follows a hold to its
end); any other verdict that does not pass is 422 `signature.invalid` / quarantined."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import select

from app.delivery.models import AxisReceipt
from app.documents.models import Document, HeldDocument, ValidationRecord
from app.edxml import serialize
from app.revocation.models import RevocationAnswer
from app.worker import Worker
from tests.conftest import World
from tests.delivery.conftest import HUB, VPCP, axis, connector, mock_axis
from tests.delivery.test_worker import drain
from tests.outside_pki import OutsidePki, Served, unused_port
from tests.revocation.conftest import Outside, signed_document, submit

__all__ = ["axis", "mock_axis"]  # fixtures used here


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Case:
    """A certificate (which URLs it names), what the CA's server answers, the verdict."""

    leaf: dict[str, Any] = field(default_factory=dict)
    routes: Callable[[OutsidePki], dict[str, Callable[[bytes], Served]]] = lambda _: {}
    revoke: bool = False
    intermediate_in_keyinfo: bool = True
    sub_indication: str | None = None  # None: TOTAL_PASSED
    evidence: tuple[str, ...] = ()  # the paths of the answers the report rests on


def _huge(_: bytes) -> Served:
    return Served((b"\0" * (1024 * 1024) for _ in range(20)), content_type="application/pkix-crl")


def _idp(
    *,
    url: str | None = None,
    ca_only: bool = False,
    user_only: bool = False,
    reasons: frozenset[x509.ReasonFlags] | None = None,
) -> x509.IssuingDistributionPoint:
    return x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)] if url else None,
        relative_name=None,
        only_contains_user_certs=user_only,
        only_contains_ca_certs=ca_only,
        only_some_reasons=reasons,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )


CASES: dict[str, Case] = {
    "good (OCSP for the organization, CRL for the subordinate CA)": Case(
        evidence=("/ocsp", "/root.crl")
    ),
    "good by CRL when the certificate names no OCSP responder": Case(
        leaf={"ocsp_url": None}, evidence=("/sub.crl", "/root.crl")
    ),
    "revoked by CRL": Case(leaf={"ocsp_url": None}, revoke=True, sub_indication="REVOKED"),
    "revoked by OCSP": Case(leaf={"crl_url": None}, revoke=True, sub_indication="REVOKED"),
    "OCSP unknown": Case(
        leaf={"crl_url": None},
        routes=lambda pki: {"/ocsp": lambda body: Served(pki.ocsp_answer(body, status="unknown"))},
        sub_indication="TRY_LATER",
    ),
    "OCSP answer signed by an unauthorised key": Case(
        leaf={"crl_url": None},
        routes=lambda pki: {"/ocsp": lambda body: Served(pki.ocsp_answer(body, signer="rogue"))},
        sub_indication="TRY_LATER",
    ),
    "OCSP answer signed by an unauthorised key, CRL as fallback": Case(
        routes=lambda pki: {"/ocsp": lambda body: Served(pki.ocsp_answer(body, signer="rogue"))},
        evidence=("/sub.crl", "/root.crl"),
    ),
    "OCSP answer signed by the issuing CA itself": Case(
        leaf={"crl_url": None},
        routes=lambda pki: {"/ocsp": lambda body: Served(pki.ocsp_answer(body, signer="issuer"))},
        evidence=("/ocsp", "/root.crl"),
    ),
    "CRL signed by the wrong key": Case(
        leaf={"ocsp_url": None},
        routes=lambda pki: {"/sub.crl": lambda _: Served(pki.crl(signed_by=pki.rogue_key))},
        sub_indication="TRY_LATER",
    ),
    "expired CRL": Case(
        leaf={"ocsp_url": None},
        routes=lambda pki: {
            "/sub.crl": lambda _: Served(
                pki.crl(
                    this_update=_now() - dt.timedelta(days=2),
                    next_update=_now() - dt.timedelta(days=1),
                )
            )
        },
        sub_indication="TRY_LATER",
    ),
    "responder down": Case(
        leaf={"ocsp_url": f"http://127.0.0.1:{unused_port()}/ocsp", "crl_url": None},
        sub_indication="TRY_LATER",
    ),
    "intermediate missing from KeyInfo, fetched by AIA caIssuers": Case(
        intermediate_in_keyinfo=False, evidence=("/ocsp", "/root.crl")
    ),
    "intermediate missing and no caIssuers": Case(
        leaf={"ca_issuers": None},
        intermediate_in_keyinfo=False,
        sub_indication="NO_CERTIFICATE_CHAIN_FOUND",
    ),
    "CDP with a file: URL": Case(
        leaf={"ocsp_url": None, "crl_url": "file:///etc/passwd"}, sub_indication="TRY_LATER"
    ),
    "CDP with an ftp: URL": Case(
        leaf={"ocsp_url": None, "crl_url": "ftp://127.0.0.1/sub.crl"}, sub_indication="TRY_LATER"
    ),
    "a 20 MiB CRL": Case(
        leaf={"ocsp_url": None}, routes=lambda _: {"/sub.crl": _huge}, sub_indication="TRY_LATER"
    ),
    "an OCSP responder that never answers": Case(
        leaf={"crl_url": None},
        routes=lambda _: {"/ocsp": lambda _: Served(stall=True)},
        sub_indication="TRY_LATER",
    ),
    "an OCSP responder that trickles": Case(
        leaf={"crl_url": None},
        routes=lambda pki: {"/ocsp": lambda body: Served(pki.ocsp_answer(body), trickle=0.05)},
        sub_indication="TRY_LATER",
    ),
    "OCSP answer with the request's nonce": Case(
        leaf={"crl_url": None},
        routes=lambda pki: {"/ocsp": lambda body: Served(pki.ocsp_answer(body, echo_nonce=True))},
        evidence=("/ocsp", "/root.crl"),
    ),
    "OCSP answer with another nonce (replayed)": Case(
        leaf={"crl_url": None},
        routes=lambda pki: {"/ocsp": lambda body: Served(pki.ocsp_answer(body, nonce=b"x" * 16))},
        sub_indication="TRY_LATER",
    ),
    "a delta CRL only": Case(
        leaf={"ocsp_url": None},
        routes=lambda pki: {
            "/sub.crl": lambda _: Served(pki.crl(extensions=[x509.DeltaCRLIndicator(1)]))
        },
        sub_indication="TRY_LATER",
    ),
    "a CRL of CA certificates only": Case(
        leaf={"ocsp_url": None},
        routes=lambda pki: {"/sub.crl": lambda _: Served(pki.crl(extensions=[_idp(ca_only=True)]))},
        sub_indication="TRY_LATER",
    ),
    "a CRL for some reasons only": Case(
        leaf={"ocsp_url": None},
        routes=lambda pki: {
            "/sub.crl": lambda _: Served(
                pki.crl(extensions=[_idp(reasons=frozenset({x509.ReasonFlags.key_compromise}))])
            )
        },
        sub_indication="TRY_LATER",
    ),
    "a CRL whose distribution point is another": Case(
        leaf={"ocsp_url": None},
        routes=lambda pki: {
            "/sub.crl": lambda _: Served(pki.crl(extensions=[_idp(url=f"{pki.url}/other.crl")]))
        },
        sub_indication="TRY_LATER",
    ),
    "a CRL of end-entity certificates at the certificate's distribution point": Case(
        leaf={"ocsp_url": None},
        routes=lambda pki: {
            "/sub.crl": lambda _: Served(
                pki.crl(extensions=[_idp(url=f"{pki.url}/sub.crl", user_only=True)])
            )
        },
        evidence=("/sub.crl", "/root.crl"),
    ),
    "a redirect to another scheme": Case(
        leaf={"crl_url": None},
        routes=lambda _: {
            "/ocsp": lambda _: Served(status=302, headers={"Location": "https://127.0.0.1/x"})
        },
        sub_indication="TRY_LATER",
    ),
}


@dataclass
class Prepared:
    case: Case
    signer: Any
    leaf: Any


def prepare(outside: Outside, organ: str, name: str) -> Prepared:
    case = CASES[name]
    leaf = outside.pki.leaf(organ, **case.leaf)
    if case.revoke:
        outside.pki.revoke(leaf)
    with outside.server.lock:
        outside.server.routes.update(case.routes(outside.pki))
    return Prepared(
        case, outside.pki.signer(leaf, with_intermediate=case.intermediate_in_keyinfo), leaf
    )


def evidence_paths(report: dict[str, Any], outside: Outside) -> list[str]:
    return sorted(str(e["url"]).removeprefix(outside.server.url) for e in report["revocation_data"])


def kept(sessions: Any) -> list[tuple[str, str, str]]:
    with sessions() as s:
        return sorted((r.kind, r.url, r.sha256) for r in s.scalars(select(RevocationAnswer)))


def check_evidence(report: dict[str, Any], case: Case, outside: Outside, sessions: Any) -> None:
    assert evidence_paths(report, outside) == sorted(case.evidence)
    rows = {sha for _, _, sha in kept(sessions)}
    for e in report["revocation_data"]:
        assert e["sha256"] in rows  # the evidence is kept in the database
        assert e["this_update"] and e["next_update"]


def check_slow_server_let_go(name: str, outside: Outside) -> None:
    if name == "a 20 MiB CRL":
        assert outside.server.sent["/sub.crl"] < 20 * 1024 * 1024
    if name == "an OCSP responder that trickles":
        # headers came, then single bytes until the deadline: far from a whole answer
        assert 0 < outside.server.sent["/ocsp"] < 200


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_over_the_api(name: str, client: Any, world: World, sessions: Any, outside: Outside):
    prepared = prepare(outside, World.OWN, name)
    case = prepared.case
    r = submit(client, world, prepared.signer)
    if case.sub_indication is None:
        assert r.status_code == 202, r.text
        report = client.get(
            f"/api/v1/documents/{r.json()['id']}/validation", headers=world.auth("system")
        ).json()["report"]
        assert report["indication"] == "TOTAL_PASSED"
        check_evidence(report, case, outside, sessions)
    elif case.sub_indication == "TRY_LATER":
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "signature.try_later" and r.headers["retry-after"] == "60"
    else:
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "signature.invalid"
    if case.sub_indication is not None:
        report = r.json()["validation"]
        assert report["sub_indication"] == case.sub_indication
        if case.sub_indication == "TRY_LATER":
            assert report["checks"]["revocation"] == "indeterminate"
            codes = {w["code"] for w in report["warnings"]}
            assert "revocation.fetch_failed" in codes
            # nothing unusable is kept
            assert not [k for k in kept(sessions) if k[1].endswith(("/ocsp", "/sub.crl"))]
    check_slow_server_let_go(name, outside)


@pytest.fixture
def worker(app: Any, axis: str) -> Worker:
    return Worker(app.state.hub, app.state.sessionmaker, axis=connector(axis, HUB))


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_through_the_axis(
    name: str, client: Any, world: World, sessions: Any, outside: Outside, worker: Worker, axis: str
):
    prepared = prepare(outside, World.EXTERNAL, name)
    case = prepared.case
    root = signed_document(prepared.signer, World.EXTERNAL, [World.OWN])
    connector(axis, VPCP).send_edoc(
        serialize(root), from_organ=World.EXTERNAL, to=[World.OWN], message_type="edoc"
    )
    drain(worker, sessions)
    inbox = client.get(
        "/api/v1/inbox", params={"organ_id": World.OWN}, headers=world.auth("system")
    ).json()["items"]
    if case.sub_indication == "TRY_LATER":
        # Held: kept, delivered to no one, not answered on the axis.
        with sessions() as s:
            receipt = s.scalars(select(AxisReceipt)).one()
            held = s.scalars(select(HeldDocument)).one()
            assert (receipt.outcome, receipt.document) == ("held", held.id)
            assert held.state == "held" and held.sub_indication == "TRY_LATER"
            assert s.scalars(select(Document)).all() == []
        assert inbox == []
        assert [i.doc_id for i in connector(axis, HUB).get_received_list("edoc")] != []
        check_slow_server_let_go(name, outside)
        return
    with sessions() as s:
        receipt = s.scalars(select(AxisReceipt)).one()
        doc = s.get(Document, receipt.document)
        assert doc is not None
        record = s.scalars(
            select(ValidationRecord).where(ValidationRecord.document == doc.id)
        ).one()
        report = record.report
    if case.sub_indication is None:
        assert receipt.outcome == "delivered"
        assert report["indication"] == "TOTAL_PASSED"
        assert [i["document"] for i in inbox] == [doc.id]
        check_evidence(report, case, outside, sessions)
    else:
        # A verdict that will not change is quarantined (and answered 02).
        assert receipt.outcome == "quarantined"
        assert doc.quarantined
        assert report["sub_indication"] == case.sub_indication
        assert inbox == []
    check_slow_server_let_go(name, outside)
