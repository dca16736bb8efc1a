"""Request bodies for tests: edXML documents as the JSON API takes them."""

from __future__ import annotations

import base64
import itertools
from typing import Any

_counter = itertools.count(1)


def document_json(
    from_organ: str,
    to: list[str],
    *,
    number: str | None = None,
    subject: str = "V/v triển khai liên thông văn bản điện tử năm 2026",
    business: dict[str, Any] | None = None,
    response_for: list[dict[str, Any]] | None = None,
    attachments: list[tuple[str, bytes]] | None = None,
) -> dict[str, Any]:
    n = number or f"{next(_counter)}"
    body: dict[str, Any] = {
        "from": {"organ_id": from_organ, "organ_name": "Cơ quan gửi"},
        "to": [{"organ_id": o} for o in to],
        "code": {"code_number": n, "code_notation": "UBND-VX"},
        "promulgation_info": {"place": "Long An", "promulgation_date": "2026-11-20"},
        "subject": subject,
        "content": "Nội dung: đề nghị các cơ quan, đơn vị triển khai.",
        "signer_info": {
            "competence": "KT. CHỦ TỊCH",
            "position": "Phó Chủ tịch",
            "full_name": "Nguyễn Văn A",
        },
    }
    if business:
        body["business"] = business
    if response_for:
        body["response_for"] = response_for
    if attachments:
        body["attachments"] = [
            {
                "content_id": f"cid:{i}",
                "name": name,
                "content_type": "application/pdf",
                "data_base64": base64.b64encode(data).decode(),
            }
            for i, (name, data) in enumerate(attachments, start=1)
        ]
    return body


def document_id_of(body: dict[str, Any]) -> str:
    d = body["promulgation_info"]["promulgation_date"].replace("-", "/")
    return f"{body['from']['organ_id']},{d},{body['code']['code_number']}/{body['code']['code_notation']}"
