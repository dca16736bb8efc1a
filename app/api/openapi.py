"""The OpenAPI document as integrators read it: every refusal is problem+json (one `Problem`
schema, `errors[]` on 422), the Bearer key is the one security scheme."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.routing import BaseRoute

from app.api.deps import API_KEY
from app.api.schemas import Problem
from app.core.errors import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
REF = "#/components/schemas/{model}"
API_KEY_SCHEME = API_KEY.scheme_name

#: Request bodies read by hand (`capped_body`, XML or JSON): their models are added here.
_BODY_MODELS: dict[str, type[BaseModel]] = {}

DOCUMENT_JSON_EXAMPLE: dict[str, Any] = {
    "from": {"organ_id": "000.00.01.H39", "organ_name": "Sở Nội vụ tỉnh Long An"},
    "to": [{"organ_id": "000.00.03.H39"}],
    "code": {"code_number": "123", "code_notation": "SNV-VP"},
    "promulgation_info": {"place": "Long An", "promulgation_date": "2026-11-20"},
    "subject": "V/v triển khai liên thông văn bản điện tử năm 2026",
    "content": "Đề nghị các cơ quan, đơn vị triển khai.",
    "signer_info": {
        "competence": "KT. GIÁM ĐỐC",
        "position": "Phó Giám đốc",
        "full_name": "Nguyễn Văn A",
    },
    "attachments": [
        {
            "content_id": "cid:1",
            "name": "cong-van.pdf",
            "content_type": "application/pdf",
            "data_base64": "JVBERi0xLjQK",
        }
    ],
}


def request_body(
    model: type[BaseModel], *, xml: str, json_example: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`openapi_extra` for a route taking JSON (`model`) or XML, read by `capped_body`."""
    _BODY_MODELS[model.__name__] = model
    json_media: dict[str, Any] = {"schema": {"$ref": REF.format(model=model.__name__)}}
    if json_example is not None:
        json_media["example"] = json_example
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": json_media,
                "application/xml": {"schema": {"type": "string", "description": xml}},
            },
        }
    }


def xml_body(description: str) -> dict[str, Any]:
    """`openapi_extra` for a route taking an XML body only."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/xml": {"schema": {"type": "string", "description": description}}
            },
        }
    }


def _add_schemas(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template=REF)
    for name, sub in [*schema.pop("$defs", {}).items(), (model.__name__, schema)]:
        if name in schemas and schemas[name] != sub:
            raise RuntimeError(f"two OpenAPI schemas named {name}")
        schemas[name] = sub


def _problem_answers(operation: dict[str, Any]) -> None:
    for status, answer in operation.get("responses", {}).items():
        content = answer.get("content")
        fastapi_422 = "HTTPValidationError" in str(content)
        # A refusal described by its status only (problems.responses) or FastAPI's own 422;
        # an answer with a model of its own (/readyz's 503) keeps it.
        if status.startswith(("4", "5")) and (content is None or fastapi_422):
            answer["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
            if status == "422":
                answer["description"] = "Unprocessable request: `errors[{loc, msg}]` names each"


def _in_order(routes: list[BaseRoute], order: Sequence[APIRouter]) -> list[BaseRoute]:
    """The app's routes with its included routers in `order` (the app matches requests in
    another order, hot routes first); routes of the app itself first."""

    def rank(route: BaseRoute) -> int:
        router = getattr(route, "original_router", None)
        return order.index(router) if router in order else -1

    return sorted(routes, key=rank)


def build(
    app: FastAPI, secured_prefix: str | None = None, order: Sequence[APIRouter] = ()
) -> dict[str, Any]:
    """The document; every operation under `secured_prefix` needs the Bearer key (the gate,
    app/api/gate.py, refuses any request there without one). The key is declared here rather
    than by a security dependency, which FastAPI would solve again on every request."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=_in_order(app.routes, order),
        tags=app.openapi_tags,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    models: list[type[BaseModel]] = [Problem, *_BODY_MODELS.values()]
    for model in models:
        _add_schemas(schemas, model)
    if secured_prefix is not None:
        doc["components"]["securitySchemes"] = {
            API_KEY_SCHEME: API_KEY.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        }
    for url, path in doc.get("paths", {}).items():
        for operation in path.values():
            _problem_answers(operation)
            if secured_prefix is not None and url.startswith(secured_prefix):
                operation["security"] = [{API_KEY_SCHEME: []}]
    # FastAPI's own 422 shapes are never sent: the handler answers `Problem`.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def install(
    app: FastAPI, secured_prefix: str | None = None, order: Sequence[APIRouter] = ()
) -> None:
    """`app.openapi()` builds the document once (`build`): `order` is the order its included
    routers are listed in."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app, secured_prefix, order)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
