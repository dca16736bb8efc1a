"""A PDF attachment signed under an outside CA (SPEC 5.3 with 5.1): its signer's revocation
data is fetched from the network like the edXML signature's, and a revoked signer fails."""

from __future__ import annotations

from typing import Any

from app.signing import TrustStore
from tests.conftest import World
from tests.factories import document_json
from tests.revocation.conftest import DOCS, Outside
from tests.signing.pdfgen import make_pdf, sign_bytes_pdf


def _submit_pdf(client: Any, world: World, outside: Outside, *, revoked: bool) -> dict[str, Any]:
    leaf = outside.pki.leaf(World.OWN)
    if revoked:
        outside.pki.revoke(leaf)
    pdf = sign_bytes_pdf(
        make_pdf(["Van ban ky boi CA ben ngoai"]),
        outside.pki.signer(leaf),
        TrustStore([outside.pki.root.cert]),
        organ_id=World.OWN,
        embed_revocation=False,
    )
    r = client.post(
        DOCS,
        json=document_json(World.OWN, [World.OWN2], attachments=[("qd.pdf", pdf)]),
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    report = client.get(
        f"{DOCS}/{r.json()['id']}/validation", headers=world.auth("auditor")
    ).json()["report"]
    (verdict,) = report["attachments"]
    return dict(verdict)


def test_an_outside_signer_of_a_pdf_is_checked_with_fetched_revocation_data(
    client: Any, world: World, outside: Outside
) -> None:
    verdict = _submit_pdf(client, world, outside, revoked=False)
    assert verdict["indication"] == "TOTAL_PASSED", verdict
    assert verdict["signatures"][0]["signed_by"]["organ_id"] == World.OWN
    assert outside.server.fetches() > 0  # the answers came from the outside CA's server


def test_a_revoked_outside_signer_of_a_pdf_fails(
    client: Any, world: World, outside: Outside
) -> None:
    verdict = _submit_pdf(client, world, outside, revoked=True)
    assert (verdict["indication"], verdict["sub_indication"]) == ("TOTAL_FAILED", "REVOKED")
