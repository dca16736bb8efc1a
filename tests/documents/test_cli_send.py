"""`lienthong send`: the command-line client a department system can script."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from app.cli import main as cli
from app.edxml import EdxmlDocument, build_document
from app.mock_axis.server import MockAxisServer
from tests.conftest import World
from tests.factories import document_json


def test_send_json_and_xml_over_http(app, world: World, tmp_path: Path) -> None:
    server = MockAxisServer.start(app)  # any ASGI app, served by uvicorn in a thread
    try:
        env = {"LIENTHONG_API_URL": server.url, "LIENTHONG_API_KEY": world.keys["system"]}
        (tmp_path / "doc.json").write_text(
            json.dumps(document_json(world.OWN, [world.OWN2]), ensure_ascii=False)
        )
        r = CliRunner().invoke(cli, ["send", "--json", str(tmp_path / "doc.json")], env=env)
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["signature"]["indication"] == "TOTAL_PASSED"
        (tmp_path / "doc.edxml").write_bytes(
            build_document(EdxmlDocument.model_validate(document_json(world.OWN, [world.OWN2])))
        )
        r = CliRunner().invoke(cli, ["send", str(tmp_path / "doc.edxml")], env=env)
        assert r.exit_code == 0 and json.loads(r.output)["from"] == world.OWN
        again = CliRunner().invoke(cli, ["send", str(tmp_path / "doc.edxml")], env=env)
        assert again.exit_code == 1 and json.loads(again.output)["code"] == "document.duplicate"
    finally:
        server.stop()
