"""`lienthong stats export|rebuild|check`: the annual report offline, and counter repair."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import Connection, Engine

MAX_LISTED = 200


def _engine() -> Engine:
    from app.core.config import load_settings
    from app.core.db import make_engine, require_database

    url = load_settings().database_url
    require_database(url)
    return make_engine(url, pool_size=1)


@contextmanager
def _connection(*, snapshot: bool = False) -> Iterator[Connection]:
    """One transaction; `snapshot` reads PostgreSQL at one instant (REPEATABLE READ)."""
    engine = _engine()
    try:
        with engine.connect() as conn:
            if snapshot and conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
    finally:
        engine.dispose()


def _progress(what: str, done: int) -> None:
    click.echo(f"  {what}: {done:,} rows", err=True)


@click.group("stats")
def stats_group() -> None:
    """Interchange statistics: the annual report, counter checks and repair."""


@stats_group.command("export")
@click.option("--year", type=click.IntRange(2000, 2200), help="default: this year")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="json", show_default=True
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
def stats_export(year: int | None, fmt: str, output: Path | None) -> None:
    """The annual report: indicators and the per-organization table (CSV is UTF-8 with BOM)."""
    from sqlalchemy.orm import Session

    from app.stats import reports

    year = year or reports.today_local().year
    with _connection() as conn, Session(bind=conn) as session:
        data = reports.report(session, year)
    if fmt == "json":
        payload = (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    else:
        payload = reports.with_bom(reports.report_csv(data))
    if output is None:
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(payload)
        click.echo(f"wrote {output} ({year}, {fmt})", err=True)


@stats_group.command("rebuild")
def stats_rebuild() -> None:
    """Recompute every counter from documents, deliveries and statuses (repair)."""
    from app.stats.recount import rebuild

    started = time.perf_counter()
    click.echo("recounting…", err=True)
    with _connection() as conn:
        rows = rebuild(conn, _progress)
    click.echo(f"rebuilt {rows} organization-day rows in {time.perf_counter() - started:.1f} s")


@stats_group.command("check")
def stats_check() -> None:
    """Compare the counters with a recount; exit 1 listing every difference."""
    from app.stats.recount import differences

    with _connection(snapshot=True) as conn:
        diffs = differences(conn, _progress)
    if not diffs:
        click.echo("ok: every counter agrees with a recount")
        return
    click.echo(f"{len(diffs)} counters differ from a recount:")
    for d in diffs[:MAX_LISTED]:
        click.echo(f"  {d}")
    if len(diffs) > MAX_LISTED:
        click.echo(f"  … and {len(diffs) - MAX_LISTED} more")
    click.echo("repair with: lienthong stats rebuild")
    sys.exit(1)
