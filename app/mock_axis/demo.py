"""The embedded demo of the national axis: a mock axis beside the hub, and a second system.

`serve` on the embedded default starts the mock with four systems (this hub, the Government
Office, a ministry, another province) and, once, shows documents both ways: the province
sends one to the Government Office, and the other province sends one to a local agency.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from pathlib import Path
from typing import Any

import httpx

from app.core.config import Settings

log = logging.getLogger("app.demo")

HUB_SYSTEM = "lienthong-demo"
OTHER_PROVINCE = "000.00.00.H42"


def systems_file(settings: Settings) -> Path:
    """Write (once) the mock's systems file, with a fresh secret for every system."""
    path = settings.data_dir / "vpcp-systems.json"
    if path.exists():
        return path
    systems = [
        {
            "systemid": HUB_SYSTEM,
            "secret": secrets.token_urlsafe(24),
            "organ_ids": ["*.H39"],
            "name": "Trục liên thông tỉnh Long An (demo)",
        },
        {
            "systemid": "vpcp-demo",
            "secret": secrets.token_urlsafe(24),
            "organ_ids": ["000.00.00.G22"],
            "name": "Văn phòng Chính phủ (demo)",
        },
        {
            "systemid": "btc-demo",
            "secret": secrets.token_urlsafe(24),
            "organ_ids": ["000.00.00.G12", "000.00.00.G09"],
            "name": "Bộ ngành (demo)",
        },
        {
            "systemid": "ninhbinh-demo",
            "secret": secrets.token_urlsafe(24),
            "organ_ids": [OTHER_PROVINCE, "000.00.00.H40"],
            "name": "UBND tỉnh Ninh Bình (demo)",
        },
    ]
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(systems, ensure_ascii=False, indent=2))
    path.chmod(0o600)
    return path


def hub_credentials(path: Path) -> tuple[str, str]:
    for system in json.loads(path.read_text()):
        if system["systemid"] == HUB_SYSTEM:
            return system["systemid"], system["secret"]
    raise RuntimeError(f"{path} has no {HUB_SYSTEM} entry")


def start_mock(settings: Settings, verifier: Any) -> str:
    """Start the mock axis in this process and point the hub's connector at it."""
    from pydantic import SecretStr

    from app.mock_axis.server import MockAxisServer, create_mock_app
    from app.mock_axis.state import load_systems

    path = systems_file(settings)
    server = MockAxisServer.start(
        create_mock_app(load_systems(path), verifier), port=settings.mock_port, json_logs=True
    )
    system_id, secret = hub_credentials(path)
    settings.vpcp_url, settings.vpcp_system_id, settings.vpcp_secret = (
        server.url,
        system_id,
        SecretStr(secret),
    )
    settings.vpcp_poll_seconds = min(settings.vpcp_poll_seconds, 2.0)
    return server.url


def hub_verifier(settings: Settings) -> Any:
    """The mock checks signatures against the hub's own PKI (the demo's national CA)."""
    from app.core.db import make_engine, make_sessionmaker
    from app.hub import resolve_key_passphrase
    from app.keys.custody import KeyCustody
    from app.signing.validation import validate_bytes

    sessions = make_sessionmaker(make_engine(settings.database_url))
    custody = KeyCustody(resolve_key_passphrase(settings), settings.trust_anchors)

    def verify(data: bytes, sender: str) -> bool:
        with sessions() as s:
            trust = custody.trust_store(s)
        return validate_bytes(data, expected_organ_id=sender, trust=trust).passed

    return verify


def demo_exchange(settings: Settings, mock_url: str) -> list[str]:
    """Send the demo's two documents: province → Government Office, other province → Sở Nội vụ."""
    from app import demo
    from app.clients.service import Principal
    from app.core.db import unit_of_work
    from app.documents import pipeline, service
    from app.edxml import EdxmlDocument, build_document_tree, serialize
    from app.hooks import open_sessions
    from app.hub import Hub
    from app.signing.xmldsig import Signer, sign_tree

    hub = Hub.from_settings(settings)
    sessions = open_sessions(settings.database_url)
    said = []
    body = {
        "from": {"organ_id": demo.PROVINCE, "organ_name": demo.PROVINCE_NAME},
        "to": [{"organ_id": "000.00.00.G22", "organ_name": "Văn phòng Chính phủ"}],
        "code": {"code_number": "1001", "code_notation": "UBND-TH"},
        "promulgation_info": {"place": "Long An", "promulgation_date": "2026-11-26"},
        "subject": "Báo cáo tình hình triển khai liên thông văn bản điện tử (demo)",
    }
    principal = Principal("demo", "demo", "system", frozenset({demo.PROVINCE}))
    with unit_of_work(sessions) as s:
        parsed = service.parsed_from_json(EdxmlDocument.model_validate(body))
        doc = pipeline.submit_document(s, hub, pipeline.Submission(principal, parsed))
        said.append(f"demo: sent {doc.document_id} to the Government Office through the axis")
        key, cert, ca_cert = hub.custody.issue_detached(s, OTHER_PROVINCE, "UBND tỉnh Ninh Bình")
    incoming = {
        "from": {"organ_id": OTHER_PROVINCE, "organ_name": "UBND tỉnh Ninh Bình"},
        "to": [{"organ_id": demo.DEPARTMENTS[1][0], "organ_name": demo.DEPARTMENTS[1][1]}],
        "code": {"code_number": "2002", "code_notation": "UBND-NV"},
        "promulgation_info": {"place": "Ninh Bình", "promulgation_date": "2026-11-26"},
        "subject": "V/v phối hợp trao đổi văn bản điện tử liên tỉnh (demo)",
    }
    root = build_document_tree(EdxmlDocument.model_validate(incoming).with_document_id())
    sign_tree(root, Signer(key, cert, [ca_cert]))
    r = httpx.post(
        f"{mock_url}/_mock/send",
        json={
            "from_system": "ninhbinh-demo",
            "edxml_base64": base64.b64encode(serialize(root)).decode(),
            "to": [demo.DEPARTMENTS[1][0]],
            "messagetype": "edoc",
        },
        timeout=10,
    )
    r.raise_for_status()
    said.append(
        f"demo: {OTHER_PROVINCE} sent a document to {demo.DEPARTMENTS[1][0]} through the axis"
    )
    return said
