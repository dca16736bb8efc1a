"""`lienthong`: the command line (SPEC section 10); user mistakes end as one line (`explain`).

One module (~600 lines) so that every command's options and its error handling are read in
one place; the work itself is in the domain packages."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from app.core.config import Settings, load_settings
from app.signing.pki import REVOCATION_REASONS

# Exit codes: 1 refused (a HubError: the request was understood and refused), 2 usage or
# configuration, 3 the database cannot be reached or has no schema, 4 a file or port problem.
EXIT_REFUSED, EXIT_CONFIG, EXIT_DATABASE, EXIT_SYSTEM = 1, 2, 3, 4


def _fail(message: str, code: int, hint: str | None = None) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(code)


def _database_hint(url: str) -> str:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        where = (
            f"{path} (relative to the current directory {Path.cwd()})"
            if not Path(path).is_absolute()
            else path
        )
        return (
            f"the database is {where}: run the command from the hub's directory, or set "
            "LIENTHONG_DATA_DIR (or LIENTHONG_DATABASE_URL) to the hub's data"
        )
    return "check LIENTHONG_DATABASE_URL and that PostgreSQL is running and reachable"


def explain(exc: BaseException) -> NoReturn:
    """One line (and a hint) for what a user can fix; exit with a code saying which kind."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

    from app.core.db import DatabaseMissing
    from app.core.errors import HubError, SettingError
    from app.signing.pki import KeyDecryptionError

    if isinstance(exc, HubError):
        click.echo(f"error ({exc.code}): {exc.detail}", err=True)
        sys.exit(EXIT_REFUSED)
    if isinstance(exc, DatabaseMissing):
        _fail(
            str(exc),
            EXIT_DATABASE,
            _database_hint(_url_of(exc)) + "; a new hub starts with `lienthong db upgrade`",
        )
    if isinstance(exc, ValidationError):
        _fail(
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
            ),
            EXIT_CONFIG,
        )
    if isinstance(exc, SettingError):
        _fail(str(exc), EXIT_CONFIG)
    if isinstance(exc, KeyDecryptionError):
        _fail(f"{exc}", EXIT_CONFIG, PASSPHRASE_HINT)
    if isinstance(exc, OperationalError | ProgrammingError) and _no_schema(exc):
        _fail(
            "the database has no Lienthong tables yet",
            EXIT_DATABASE,
            "run `lienthong db upgrade` if it is new; " + _database_hint(_url_of(exc)),
        )
    if isinstance(exc, DBAPIError):
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        _fail(f"cannot use the database: {first}", EXIT_DATABASE, _database_hint(_url_of(exc)))
    if isinstance(exc, OSError):
        what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        _fail(what, EXIT_SYSTEM)
    raise exc


PASSPHRASE_HINT = (
    "LIENTHONG_KEY_PASSPHRASE must be the passphrase the keys were encrypted with "
    "(on the embedded SQLite default, leave it unset to use DATA_DIR/key-passphrase)"
)


def _no_schema(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def _url_of(exc: Exception) -> str:
    from app.core.config import Settings

    try:
        return Settings().database_url
    except Exception:  # the settings were read already; this is only for the hint
        return ""


class HubCommands(click.Group):
    """The command group whose every command's user mistakes end as one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:
            explain(exc)


def _port_free(host: str, port: int) -> bool:
    if port == 0:
        return True
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _need_port(host: str, port: int, what: str, setting: str) -> None:
    if not _port_free(host, port):
        _fail(
            f"{what} cannot listen on {host}:{port}: the port is already in use",
            EXIT_SYSTEM,
            f"choose another with {setting}, or stop what is using it",
        )


def check_key_passphrase(settings: Settings) -> None:
    """Decrypt the keys once before serving: a wrong KEY_PASSPHRASE stops the start, named."""
    from app.core.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            _custody(settings).check_passphrase(session)
    finally:
        engine.dispose()


def _session_factory(settings: Settings) -> Any:
    from app.core.db import require_database
    from app.hooks import open_sessions

    require_database(settings.database_url)
    return open_sessions(settings.database_url)


def prepare_embedded(settings: Settings) -> bool:
    """On the embedded default, make the data dir, migrate, and seed the demo once."""
    from app.core.files import secure_storage
    from app.core.migrate import upgrade

    secure_storage(settings)
    upgrade(settings.database_url)
    result = run_demo(settings)
    if result is not None:
        click.echo(result)
    return result is not None


def _custody(settings: Settings) -> Any:
    from app.hub import resolve_key_passphrase
    from app.keys.custody import KeyCustody

    return KeyCustody(resolve_key_passphrase(settings), settings.trust_anchors)


def run_demo(settings: Settings) -> str | None:
    from app import demo
    from app.core.db import unit_of_work

    def progress(organ_id: str) -> None:
        click.echo(f"  issued a signing certificate for {organ_id}", err=True)

    with unit_of_work(_session_factory(settings)) as session:
        result = demo.seed(session, _custody(settings), progress=progress)
    if not result.created:
        return None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keys_file = settings.data_dir / "demo-keys.json"
    keys_file.write_text(json.dumps(result.api_keys, indent=2, ensure_ascii=False))
    os.chmod(keys_file, 0o600)
    lines = [
        f"Seeded the demo province: {result.organizations} organizations, "
        f"a demo PKI and {result.keys_issued} signing keys.",
        f"Demo API keys (shown once; also saved to {keys_file}):",
    ]
    lines += [f"  {name:24} {key}" for name, key in result.api_keys.items()]
    return "\n".join(lines)


@click.group(cls=HubCommands)
@click.version_option(package_name="lienthong", prog_name="lienthong")
def main() -> None:
    """Lienthong: the provincial document-interchange hub."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="do not embed a delivery worker")
@click.option(
    "--workers",
    "processes",
    default=1,
    show_default=True,
    type=int,
    help="API processes (PostgreSQL only; each embeds a delivery worker unless --no-worker)",
)
def serve(host: str, port: int, no_worker: bool, processes: int) -> None:
    """Run the API (and, unless --no-worker, a delivery worker)."""
    import uvicorn

    from app.api.server import uvicorn_options
    from app.main import create_app

    settings = load_settings()
    if no_worker:
        settings.worker_enabled = False
    if processes > 1 and settings.is_sqlite:
        raise click.UsageError("--workers > 1 needs PostgreSQL")
    _need_port(host, port, "the API", "--port")
    fresh = False
    if settings.is_sqlite and settings.auto_migrate:
        fresh = prepare_embedded(settings)
    check_key_passphrase(settings)
    if settings.is_sqlite and settings.embedded_mock and not settings.vpcp_url:
        from app.mock_axis import demo as demo_axis

        _need_port(
            "127.0.0.1",
            settings.mock_port,
            "the embedded mock axis",
            "LIENTHONG_MOCK_PORT (0: any free port), or LIENTHONG_VPCP_URL for a real axis",
        )
        mock_url = demo_axis.start_mock(settings, demo_axis.hub_verifier(settings))
        click.echo(
            f"Mock national axis (VPCP) on {mock_url}  (messages: {mock_url}/_mock/messages)"
        )
        if fresh:
            for line in demo_axis.demo_exchange(settings, mock_url):
                click.echo(line)
    click.echo(
        f"Lienthong listening on http://{host}:{port} "
        f"(database: {settings.database_url.split('://')[0]}, worker: {settings.worker_enabled})"
    )
    from app.core.logging import configure_logging

    configure_logging(settings.log_level)  # uvicorn's own lines go through it (log_config=None)
    if processes > 1:
        if no_worker:
            os.environ["LIENTHONG_WORKER_ENABLED"] = "false"
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=processes,
            log_level=settings.log_level.lower(),
            access_log=False,
            **uvicorn_options(settings),
        )
        return
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        **uvicorn_options(settings),
    )


@main.command()
def worker() -> None:
    """Run a delivery worker in the foreground (several may run against PostgreSQL)."""
    import signal
    import threading

    from app.core.files import secure_storage
    from app.core.logging import configure_logging
    from app.hooks import open_sessions
    from app.hub import Hub
    from app.worker import Worker, make_axis

    settings = load_settings()
    configure_logging(settings.log_level)
    secure_storage(settings)
    check_key_passphrase(settings)
    hub = Hub.from_settings(settings)
    w = Worker(hub, open_sessions(settings.database_url), axis=make_axis(hub))

    # The handler runs on the main thread, which may be inside `Event.wait` holding the event's
    # lock: setting the event from there deadlocks, so another thread sets it.
    def stop_from_signal(*_: object) -> None:
        threading.Thread(target=w.stop, name="worker-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, stop_from_signal)
    signal.signal(signal.SIGINT, stop_from_signal)
    click.echo(f"worker {w.worker_id} started (axis: {settings.vpcp_url or 'not configured'})")
    w.run_forever()


@main.command("mock-vpcp")
@click.option(
    "--systems", "systems_file", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option(
    "--hub-url", default=None, help="verify signatures with this hub's /pki/ca and /pki/crl"
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="SYSTEMID=SECRET",
    help="replace a system's secret from the file (e.g. the hub's, set by the operator)",
)
def mock_vpcp(
    systems_file: str, host: str, port: int, hub_url: str | None, secrets: tuple[str, ...]
) -> None:
    """Run the mock national axis (VPCP) with its /_mock admin interface."""
    from app.mock_axis.server import run_mock

    _need_port(host, port, "the mock axis", "--port")
    overrides: dict[str, str] = {}
    for item in secrets:
        systemid, sep, secret = item.partition("=")
        if not sep or not systemid or not secret:
            raise click.BadParameter(f"{item!r} is not SYSTEMID=SECRET", param_hint="--secret")
        overrides[systemid] = secret

    verifier = None
    if hub_url:
        from app.mock_axis.hub_trust import HubTrustVerifier

        verifier = HubTrustVerifier(hub_url)
    from pydantic import ValidationError

    from app.mock_axis.state import load_systems

    try:
        load_systems(systems_file)
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise click.BadParameter(f"{systems_file}: {first}", param_hint="--systems") from exc
    run_mock(
        systems_file,
        host,
        port,
        verify_signature=verifier,
        log_level="warning",
        secrets=overrides,
    )


@main.command()
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="FILE (or stdin) is the JSON form")
@click.option(
    "--url",
    envvar="LIENTHONG_API_URL",
    show_envvar=True,
    default="http://127.0.0.1:8080",
    show_default=True,
    help="the hub's address (lienthong serve --port)",
)
@click.option(
    "--key",
    envvar="LIENTHONG_API_KEY",
    show_envvar=True,
    required=True,
    help="a system client's API key",
)
@click.option("--idempotency-key", default=None)
def send(file: Path | None, as_json: bool, url: str, key: str, idempotency_key: str | None) -> None:
    """Submit a document (edXML file, or JSON with --json) to a hub, as a department system.

    It uses the Python client (lienthong_client, clients/python); the answer (the document,
    or the problem) is printed as JSON."""
    import httpx

    from lienthong_client import Client, ProblemError

    if file is None and sys.stdin.isatty():
        raise click.UsageError(
            "give a FILE, or pipe the document into stdin (`... | lienthong send`)"
        )
    data = file.read_bytes() if file else sys.stdin.buffer.read()
    try:
        document: dict[str, Any] | bytes = json.loads(data) if as_json else data
    except ValueError as exc:
        _fail(f"--json given but the input is not JSON ({exc})", EXIT_CONFIG)
    if as_json and not isinstance(document, dict):
        _fail("--json takes one JSON object (a document)", EXIT_CONFIG)
    try:
        with Client(url, key, timeout=120) as hub:
            doc = hub.submit(document, idempotency_key=idempotency_key)
    except ProblemError as exc:
        if exc.problem.get("code") == "http.error" and "type" not in exc.problem:
            _fail(f"{url} answered {exc.status} without JSON: is it a Lienthong hub?", EXIT_CONFIG)
        click.echo(json.dumps(exc.problem, ensure_ascii=False, indent=2))
        sys.exit(EXIT_REFUSED)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        _fail(f"cannot reach {url}: {exc}", EXIT_CONFIG, "check --url / LIENTHONG_API_URL")
    except ValueError:  # a 2xx that is not the document resource
        _fail(f"{url} did not answer as a Lienthong hub", EXIT_CONFIG)
    click.echo(json.dumps(doc.model_dump(mode="json", by_alias=True), ensure_ascii=False, indent=2))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from app.core.files import secure_storage
    from app.core.migrate import upgrade

    settings = load_settings()
    if settings.is_sqlite:
        secure_storage(settings)
    upgrade(settings.database_url)
    click.echo("database is at the latest revision")


@main.command()
def demo() -> None:
    """Seed the demo directory and clients, and print their API keys."""
    settings = load_settings()
    from app.core.migrate import upgrade

    if settings.is_sqlite:
        from app.core.files import secure_storage

        secure_storage(settings)
    upgrade(settings.database_url)
    result = run_demo(settings)
    click.echo(result or "The directory already has organizations; nothing seeded.")


@main.group()
def clients() -> None:
    """API clients."""


@clients.command("create")
@click.option("--name", required=True)
@click.option(
    "--role", required=True, type=click.Choice(["system", "admin", "auditor", "reporter"])
)
@click.option("--org", "orgs", multiple=True, help="an OrganId this client serves (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print {id, api_key, role, organ_ids}")
def clients_create(name: str, role: str, orgs: tuple[str, ...], as_json: bool) -> None:
    """Create a client; its key is printed once."""
    from app.clients.schemas import ClientCreate
    from app.clients.service import create_client
    from app.core.db import unit_of_work

    settings = load_settings()
    with unit_of_work(_session_factory(settings)) as session:
        client, key = create_client(
            session,
            ClientCreate(name=name, role=role, organ_ids=list(orgs)),
            actor="cli",
        )
        out = {
            "id": client.id,
            "api_key": key,
            "role": client.role,
            "organ_ids": client.organ_ids,
        }
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(f"client {out['id']} ({role}) created; API key (shown once): {key}")


@clients.command("revoke")
@click.argument("client_id")
def clients_revoke(client_id: str) -> None:
    """Revoke a client at once."""
    from app.clients.service import revoke_client
    from app.core.db import unit_of_work

    settings = load_settings()
    with unit_of_work(_session_factory(settings)) as session:
        revoke_client(session, client_id, actor="cli")
    click.echo(f"client {client_id} revoked")


@main.group()
def pki() -> None:
    """The demo PKI: CA, one signing certificate per local organization, CRL."""


def _pki_run(action: Any) -> Any:
    from app.core.db import unit_of_work

    settings = load_settings()
    sessions = _session_factory(settings)
    custody = _custody(settings)
    with unit_of_work(sessions) as session:
        custody.check_passphrase(session)  # before anything is written with the keys
        return action(session, custody)


@pki.command("init")
def pki_init() -> None:
    """Create the root and issuing CA (once) and a key for every local organization."""
    summary = _pki_run(lambda s, c: c.ensure_demo_keys(s, actor="cli"))
    click.echo(
        ("created the CA; " if summary.created_ca else "the CA exists; ")
        + f"issued {len(summary.issued)} organization certificates"
    )


@pki.command("issue")
@click.argument("organ_id")
@click.option("--key-type", type=click.Choice(["rsa", "ec"]), default="rsa", show_default=True)
def pki_issue(organ_id: str, key_type: str) -> None:
    """Issue a new key and certificate (rotation: it signs new documents from now on)."""
    row = _pki_run(lambda s, c: c.issue(s, organ_id, actor="cli", key_type=key_type))
    click.echo(f"issued certificate {row.serial} for {organ_id} (sha256 {row.sha256})")


@pki.command("revoke")
@click.argument("organ_id")
@click.option(
    "--reason",
    type=click.Choice(REVOCATION_REASONS),
    default="unspecified",
    show_default=True,
    help="the RFC 5280 reason written in the CRL",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
    default=None,
    help="compromised since (local time, Asia/Ho_Chi_Minh); default now",
)
@click.option(
    "--no-reissue",
    is_flag=True,
    help="issue no successor (the organization cannot sign until `pki issue`)",
)
def pki_revoke(organ_id: str, reason: str, since: Any, no_reissue: bool) -> None:
    """Revoke an organization's active certificate, publish a new CRL and issue a successor."""
    from app.core.timeutil import LOCAL_TZ

    when = since.replace(tzinfo=LOCAL_TZ) if since else None
    serials, successor = _pki_run(
        lambda s, c: c.revoke_and_reissue(
            s, organ_id, actor="cli", reason=reason, revoked_at=when, reissue=not no_reissue
        )
    )
    click.echo(f"revoked {', '.join(serials)}; CRL published")
    if successor is not None:
        click.echo(
            f"issued certificate {successor.serial} for {organ_id} (sha256 {successor.sha256})"
        )


@pki.command("crl")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def pki_crl(out: Path | None) -> None:
    """Publish a fresh CRL (and write it, DER, to --out)."""

    def act(session: Any, custody: Any) -> bytes:
        custody.publish_crls(session, actor="cli")
        der: bytes = custody.crl_der(session)
        return der

    der = _pki_run(act)
    if out:
        out.write_bytes(der)
    click.echo(f"CRL published ({len(der)} bytes)")


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 and name the first broken entry if it is broken."""
    from app.audit.service import verify

    settings = load_settings()
    with _session_factory(settings)() as session:
        verdict = verify(session)
    click.echo(json.dumps(verdict.as_dict()))
    if not verdict.ok:
        sys.exit(1)


from app.stats.cli import stats_group  # noqa: E402 (registered last, as the other groups)

main.add_command(stats_group)

if __name__ == "__main__":  # pragma: no cover
    main()
