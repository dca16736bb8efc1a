"""The contract as integrators meet it (SPEC 4): a typed OpenAPI document, offline /docs,
422 with errors[] for every refused input and filter, lookups by DocumentId, PUT/PATCH of
organizations, the webhook secret for admins."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.config import Settings
from app.main import create_app
from tests.conftest import World
from tests.factories import document_id_of, document_json

pytestmark = pytest.mark.rolled_back

ORGS = "/api/v1/organizations"
XML = {"Content-Type": "application/xml"}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    settings = Settings(
        _env_file=None, database_url="sqlite://", key_passphrase="x", worker_enabled=False
    )
    return create_app(settings).openapi()


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def test_every_answer_and_body_has_a_named_schema(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    untyped = []
    for method, path, op in _operations(openapi):
        for status, answer in op["responses"].items():
            for media, content in answer.get("content", {}).items():
                schema = content.get("schema") or {}
                if media == "application/json":
                    # a named component (no anonymous {"type": "object"})
                    ok = "$ref" in schema and schema["$ref"].split("/")[-1] in schemas
                else:
                    ok = bool(schema.get("type") or schema.get("$ref"))
                if not ok:
                    untyped.append((method, path, status, media))
        for media, content in op.get("requestBody", {}).get("content", {}).items():
            if media == "application/json" and "$ref" not in content.get("schema", {}):
                untyped.append((method, path, "body", media))
    assert untyped == []
    body = openapi["paths"]["/api/v1/documents"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["$ref"].endswith("/EdxmlDocument")
    assert body["application/json"]["example"]["from"]["organ_id"]
    assert "application/xml" in body
    status = openapi["paths"]["/api/v1/documents/{id}/statuses"]["post"]["requestBody"]
    assert status["content"]["application/json"]["schema"]["$ref"].endswith("/StatusIn")
    assert set(schemas["StatusIn"]["properties"]) >= {"organ_id", "code", "staff", "timestamp"}
    assert schemas["DocumentOut"]["examples"] and schemas["StatusIn"]["examples"]
    assert "HTTPValidationError" not in schemas


def test_every_refusal_is_a_problem_and_the_key_is_a_security_scheme(
    openapi: dict[str, Any],
) -> None:
    assert openapi["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "API key",
        "description": openapi["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for method, path, op in _operations(openapi):
        if path.startswith("/api/v1"):
            assert op.get("security") == [{"ApiKey": []}], (method, path)
            assert "401" in op["responses"], (method, path)
        for status, answer in op["responses"].items():
            if status.startswith("4"):
                assert answer["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (method, path, status)


def test_docs_work_offline(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/docs/assets/{asset}" in page.text
        r = client.get(f"/docs/assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and "/docs/assets/redoc.standalone.js" in redoc.text
    assert "fonts.googleapis" not in redoc.text
    assert client.get("/docs/assets/../../app/main.py").status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "loc", "role"),
    [
        ("/api/v1/audit/signatures", {"indication": "failed"}, ["query", "indication"], "auditor"),
        ("/api/v1/audit/signatures", {"organ_id": "h41"}, ["query", "organ_id"], "auditor"),
        ("/api/v1/documents", {"organ_id": "not an id"}, ["query", "organ_id"], "system"),
        ("/api/v1/documents", {"from": "x y"}, ["query", "from"], "admin"),
        ("/api/v1/documents", {"direction": "both"}, ["query", "direction"], "admin"),
        ("/api/v1/inbox", {"state": "done"}, ["query", "state"], "system"),
        ("/api/v1/deliveries", {"state": "lost"}, ["query", "state"], "admin"),
        ("/api/v1/organizations", {"parent_id": "?"}, ["query", "parent_id"], "admin"),
        ("/api/v1/stats/interchange", {"organ_id": "a,b"}, ["query", "organ_id"], "reporter"),
    ],
)
def test_unknown_filter_values_are_422_naming_them(
    client, world: World, path: str, params: dict[str, str], loc: list[str], role: str
) -> None:
    r = client.get(path, params=params, headers=world.auth(role))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "request.invalid"
    assert loc in [e["loc"] for e in r.json()["errors"]]


def test_every_422_carries_errors(client, world: World) -> None:
    doc = client.post(
        "/api/v1/documents",
        json=document_json(world.OWN, [world.OWN2]),
        headers=world.auth("system"),
    ).json()
    statuses = f"/api/v1/documents/{doc['id']}/statuses"
    r = client.post(statuses, json={"organ_id": world.OWN2}, headers=world.auth("system"))
    assert r.status_code == 422 and ["body", "code"] in [e["loc"] for e in r.json()["errors"]]
    # a refusal decided by a service (not by the schema) names the body too
    r = client.post(ORGS, json={"organ_id": "000.00.0A", "name": "x"}, headers=world.auth("admin"))
    assert r.status_code == 422 and r.json()["code"] == "organization.invalid"
    assert r.json()["errors"][0]["loc"] == ["body"] and r.json()["errors"][0]["msg"]
    # edXML refusals: code, line and the loc/msg pair
    r = client.post("/api/v1/documents", content=b"<edXML>", headers=world.auth("system") | XML)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][0] == "body"
    assert r.json()["errors"][0]["code"] == "edxml.malformed"
    # bytes that are not JSON at all
    r = client.post(
        "/api/v1/clients",
        content=b"\xc3\x28",
        headers=world.auth("admin") | {"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["errors"] == [
        {"loc": ["body"], "msg": "the body is not JSON (UTF-8)"}
    ]


def test_json_errors_show_the_value_not_a_template(client, world: World) -> None:
    body = document_json(world.OWN, ["000.00.03.h41"])
    r = client.post("/api/v1/documents", json=body, headers=world.auth("system"))
    assert r.status_code == 422
    error = next(e for e in r.json()["errors"] if e["loc"] == ["body", "to", 0, "organ_id"])
    assert error["msg"].startswith("'000.00.03.h41' is not an OrganId")
    assert "{value" not in r.text


def test_lookup_by_document_id_is_scoped(client, world: World) -> None:
    own = document_json(world.OWN, [world.OWN2], number="77")
    foreign = document_json(world.FOREIGN, [world.PROVINCE], number="77")
    a = client.post("/api/v1/documents", json=own, headers=world.auth("system")).json()
    b = client.post("/api/v1/documents", json=foreign, headers=world.auth("system_foreign")).json()

    def find(role: str, **params: str) -> list[str]:
        r = client.get("/api/v1/documents", params=params, headers=world.auth(role))
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["items"]]

    assert find("system", document_id=document_id_of(own)) == [a["id"]]
    assert find("system", document_id=document_id_of(foreign)) == []  # not its business
    assert find("admin", document_id=document_id_of(foreign)) == [b["id"]]
    assert find("admin", document_id=document_id_of(own), **{"from": world.FOREIGN}) == []
    assert find("admin", **{"from": world.FOREIGN}) == [b["id"]]
    assert find("system", document_id="000.00.02.H39,2026/11/20,1/none") == []


def test_inbox_items_say_whom_they_wait_for(client, world: World) -> None:
    client.post(
        "/api/v1/documents",
        json=document_json(world.OWN, [world.OWN2, world.PROVINCE]),
        headers=world.auth("system"),
    )
    client.post(
        "/api/v1/documents",
        json=document_json(world.OWN2, [world.OWN]),
        headers=world.auth("system"),
    )
    items = client.get("/api/v1/inbox", headers=world.auth("system")).json()["items"]
    assert sorted(i["organ_id"] for i in items) == [world.OWN, world.OWN2]
    assert {i["state"] for i in items} == {"available"}
    by_state = client.get(
        "/api/v1/inbox", params={"state": "available"}, headers=world.auth("system")
    ).json()["items"]
    assert [i["id"] for i in by_state] == [i["id"] for i in items]
    client.post(
        f"/api/v1/inbox/{items[0]['id']}/ack", json={"result": "done"}, headers=world.auth("system")
    )
    acked = client.get(
        "/api/v1/inbox", params={"state": "acknowledged"}, headers=world.auth("system")
    ).json()["items"]
    assert [(i["id"], i["state"]) for i in acked] == [(items[0]["id"], "acknowledged")]


def test_put_takes_what_get_answers_and_patch_changes_only_what_is_sent(
    client, world: World
) -> None:
    admin = world.auth("admin")
    got = client.get(f"{ORGS}/{world.OWN2}", headers=admin).json()
    r = client.put(f"{ORGS}/{world.OWN2}", json=got | {"name": "Sở Tài chính (mới)"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Sở Tài chính (mới)" and r.json()["level"] == got["level"]
    r = client.put(f"{ORGS}/{world.OWN2}", json=got | {"level": 1}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "level"]
    r = client.put(f"{ORGS}/{world.OWN2}", json=got | {"organ_id": world.OWN}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "organ_id"]

    r = client.patch(f"{ORGS}/{world.OWN2}", json={"email": "stc@example.vn"}, headers=admin)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["email"] == "stc@example.vn"
    assert after["name"] == "Sở Tài chính (mới)" and after["parent_id"] == world.PROVINCE
    r = client.patch(f"{ORGS}/{world.OWN2}", json={"level": 3}, headers=admin)
    assert r.status_code == 422 and ["body", "level"] in [e["loc"] for e in r.json()["errors"]]
    # the merged whole is checked: a webhook for an axis organization is refused
    r = client.patch(
        f"{ORGS}/{world.EXTERNAL}",
        json={"delivery": {"mode": "push", "url": "https://x.example.vn/h"}},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["code"] == "organization.invalid"
    assert client.get(f"{ORGS}/{world.EXTERNAL}", headers=admin).json()["delivery"] == {
        "mode": "pull"
    }


def test_webhook_secret_for_admins_audited(client, world: World) -> None:
    admin = world.auth("admin")
    r = client.get(f"{ORGS}/{world.OWN}/webhook-secret", headers=admin)
    assert r.status_code == 404 and r.json()["code"] == "organization.no_webhook"
    created = client.post(
        ORGS,
        json={
            "organ_id": "000.01.02.H39",
            "name": "Phòng Tổ chức",
            "parent_id": world.OWN,
            "delivery": {"mode": "push", "url": "https://qlvb.snv.example/hook"},
        },
        headers=admin,
    ).json()
    r = client.get(f"{ORGS}/000.01.02.H39/webhook-secret", headers=admin)
    assert r.status_code == 200
    assert r.json() == {
        "organ_id": "000.01.02.H39",
        "url": "https://qlvb.snv.example/hook",
        "secret": created["webhook_secret"],
    }
    log = client.get("/api/v1/audit/log", headers=admin).json()["items"]
    reads = [e for e in log if e["action"] == "organization.webhook_secret_read"]
    assert [(e["target_id"], e["details"]) for e in reads] == [("000.01.02.H39", {})]
    assert "whsec_" not in str(log)  # the secret itself is never in the log
    for role in ("system", "auditor", "reporter"):
        r = client.get(f"{ORGS}/000.01.02.H39/webhook-secret", headers=world.auth(role))
        assert r.status_code == 403


def test_validate_says_when_the_hub_signs(client, world: World) -> None:
    from app.edxml import EdxmlDocument, build_document

    unsigned = build_document(EdxmlDocument.model_validate(document_json(world.OWN, [world.OWN2])))
    out = client.post(
        "/api/v1/edxml/validate", content=unsigned, headers=world.auth("system") | XML
    )
    assert out.json()["valid"] is True and out.json()["hub_signs"] is True
    doc = client.post(
        "/api/v1/documents",
        json=document_json(world.OWN, [world.OWN2]),
        headers=world.auth("system"),
    ).json()
    signed = client.get(
        f"/api/v1/documents/{doc['id']}/edxml", headers=world.auth("system")
    ).content
    forged = signed.replace(b"UBND-VX", b"UBND-VY", 1)
    out = client.post("/api/v1/edxml/validate", content=forged, headers=world.auth("system") | XML)
    body = out.json()
    assert body["valid"] is False and body["hub_signs"] is False
    assert body["signature"]["indication"] == "TOTAL_FAILED"
    assert "Remove the Signature element and the hub signs it" in body["errors"][0]["detail"]


def test_ids_longer_than_the_hub_files_are_refused_not_500(client, world: World) -> None:
    """Found by the fuzzer on PostgreSQL: a 2000-character CodeNotation reached the database."""
    body = document_json(world.OWN, [world.OWN2])
    body["code"]["code_notation"] = "0" * 1990
    r = client.post("/api/v1/documents", json=body, headers=world.auth("system"))
    assert r.status_code == 422 and r.json()["code"] == "edxml.invalid"
    assert ["body", "code", "code_notation"] in [e["loc"] for e in r.json()["errors"]]
    body = document_json(world.OWN, [world.OWN2]) | {"document_id": "X" * 301}
    r = client.post("/api/v1/documents", json=body, headers=world.auth("system"))
    assert r.status_code == 422 and ["body", "document_id"] in [
        e["loc"] for e in r.json()["errors"]
    ]
    # a refusal of a long (valid) DocumentId is audited without failing
    body = document_json(world.FOREIGN, [world.OWN2]) | {"document_id": "X" * 300}
    r = client.post("/api/v1/documents", json=body, headers=world.auth("system"))
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"
    log = client.get("/api/v1/audit/log", headers=world.auth("admin")).json()["items"]
    refused = [e for e in log if e["action"] == "document.refused"]
    assert refused[-1]["target_id"] == "X" * 200
    assert refused[-1]["details"]["document_id"] == "X" * 300
