"""Statistics over a year of 1 million documents: answer time of the report and the table.

SPEC section 12: statistics for a year over 1 million documents answer in under 200 ms.

    .venv/bin/python bench/stats.py [--documents 1000000] [--checkpoints 100000,1000000]
                                    [--runs 30] [--verify] [--keep]

Into its own PostgreSQL database `lienthong_bench_stats` (on the server of
LIENTHONG_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test; dropped after
unless --keep), across the demo directory (36 local organizations, 5 on the axis): minimal
document, delivery and status rows bulk-loaded with COPY, and their counter rows bulk-upserted
(computed with the same contribution functions the live listener uses; one row per
organization-day and one per organization-month). At each checkpoint it times, through the ASGI app in process (authentication and JSON included):

    GET /api/v1/stats/report?year=2026
    GET /api/v1/stats/interchange?granularity=month&since=2026-01-01&until=2026-12-31

`--verify` also recounts everything from the rows (`lienthong stats check`), asserts that the
bulk-made counters agree, and prints how long that full recount took.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.timeutil import LOCAL_TZ
from app.stats.counters import (
    DeliveryRow,
    DocRow,
    StatusRow,
    Tally,
    delivery_contribution,
    document_contribution,
    status_contribution,
)

DB_NAME = "lienthong_bench_stats"
YEAR = 2026
TARGET_MS = 200.0


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _uid(n: int) -> str:
    return str(uuid.UUID(int=n))


class Generator:
    """Documents over the year, each with 1-3 recipients, some via the axis, some from it."""

    def __init__(self, local: list[str], external: list[str], seed: int = 2026) -> None:
        self.rng = random.Random(seed)
        self.local, self.external = local, external
        self.start = datetime(YEAR, 1, 1, tzinfo=LOCAL_TZ)
        self.ids = 0
        # Larger units send more: the province office and departments most, communes least.
        self.weights = [
            8.0 if o.endswith(".00.H39") or o.startswith("000.00.") else 1.0 for o in local
        ]

    def _next(self) -> int:
        self.ids += 1
        return self.ids

    def batch(
        self, n: int
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], Tally]:
        rng = self.rng
        docs: list[tuple[Any, ...]] = []
        dels: list[tuple[Any, ...]] = []
        stats: list[tuple[Any, ...]] = []
        tally = Tally()
        for _ in range(n):
            doc_id = _uid(self._next())
            from_axis = rng.random() < 0.05
            if from_axis:
                sender = rng.choice(self.external)
                recipients = rng.sample(self.local, rng.randint(1, 2))
            else:
                sender = rng.choices(self.local, self.weights)[0]
                pool = [o for o in self.local if o != sender]
                recipients = rng.sample(pool, rng.randint(1, 3))
                if rng.random() < 0.08:
                    recipients.append(rng.choice(self.external))
            day = self.start + timedelta(days=rng.randrange(365))
            accepted = (day + timedelta(hours=rng.uniform(7, 17.5))).astimezone(UTC)
            indication = "TOTAL_PASSED" if rng.random() < 0.97 else "INDETERMINATE"
            origin = "vpcp" if from_axis else "api"
            doc = DocRow(doc_id, sender, 0, False, indication, accepted, origin)
            docs.append(
                (
                    doc_id,
                    f"{sender},{accepted.astimezone(LOCAL_TZ):%Y/%m/%d},{self.ids}/BENCH",
                    sender,
                    0,
                    "V/v số liệu thử nghiệm",
                    f"{self.ids}/BENCH",
                    json.dumps(recipients),
                    "[]",
                    "[]",
                    origin,
                    "0" * 64,
                    20_000,
                    not from_axis,
                    indication,
                    False,
                    accepted,
                )
            )
            axis_delivery = False
            for organ in recipients:
                d_id = _uid(self._next())
                external = organ in self.external
                if external:
                    axis_delivery = True
                    if rng.random() < 0.03:
                        state, available, acked = "dead", None, None
                    else:
                        state = "delivered"
                        available = accepted + timedelta(seconds=rng.expovariate(1 / 20))
                        acked = None
                    route, mode = "vpcp", "axis"
                else:
                    route, mode = "local", "pull"
                    available = accepted + timedelta(milliseconds=rng.uniform(5, 80))
                    done = rng.random() < 0.8
                    state = "acknowledged" if done else "available"
                    acked = available + timedelta(minutes=rng.uniform(1, 240)) if done else None
                    if done and rng.random() < 0.3:
                        assert acked is not None
                        s_id = _uid(self._next())
                        stats.append(
                            (
                                s_id,
                                doc_id,
                                organ,
                                json.dumps([sender]),
                                "01",
                                acked,
                                "0" * 64,
                                "api",
                                acked,
                            )
                        )
                        status_contribution(StatusRow(s_id, organ, "01", acked), tally, +1)
                dels.append(
                    (
                        d_id,
                        "document",
                        doc_id,
                        doc_id,
                        organ,
                        route,
                        mode,
                        state,
                        1 if external else 0,
                        accepted,
                        False,
                        accepted,
                        available or accepted,
                        available,
                        acked,
                    )
                )
                delivery_contribution(
                    DeliveryRow(d_id, doc_id, "document", organ, route, state, available),
                    doc,
                    tally,
                    +1,
                )
            document_contribution(doc, axis_delivery, tally, +1)
        return docs, dels, stats, tally


DOC_COLS = (
    "id, document_id, from_organ, business_type, subject, code, to_organs, response_for, "
    "attachments, origin, blob, size, signed_by_hub, indication, quarantined, accepted_at"
)
DEL_COLS = (
    "id, kind, message_id, document, organ_id, route, mode, state, attempts, next_attempt_at, "
    "revoked, created_at, updated_at, available_at, acked_at"
)
STATUS_COLS = "id, document, from_organ, to_organs, code, reported_at, blob, origin, accepted_at"


def copy_rows(raw: Any, table: str, cols: str, rows: list[tuple[Any, ...]]) -> None:
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed_directory(engine: Any) -> tuple[list[str], list[str], str]:
    """The demo directory's organizations, and a reporter key (as `lienthong demo` makes)."""
    from app import demo
    from app.clients.schemas import ClientCreate
    from app.clients.service import create_client
    from app.core.db import make_sessionmaker, unit_of_work
    from app.directory.models import Organization

    local = demo.local_organizations()
    from app.hooks import install_session_hooks

    with unit_of_work(install_session_hooks(make_sessionmaker(engine))) as s:
        for code, name, parent in local:
            s.add(
                Organization(organ_id=code, name=name, parent_id=parent, level=2 if parent else 1)
            )
            s.flush()
        for code, name in demo.EXTERNAL:
            s.add(Organization(organ_id=code, name=name, level=1, route="vpcp"))
        _, key = create_client(s, ClientCreate(name="bench", role="reporter"), actor="bench")
    return [c for c, _, _ in local], [c for c, _ in demo.EXTERNAL], key


def timings(client: Any, key: str, runs: int) -> dict[str, list[float]]:
    auth = {"Authorization": f"Bearer {key}"}
    calls = {
        "report?year": ("/api/v1/stats/report", {"year": YEAR}),
        "interchange month": (
            "/api/v1/stats/interchange",
            {"granularity": "month", "since": f"{YEAR}-01-01", "until": f"{YEAR}-12-31"},
        ),
    }
    out: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(3):  # warm: connections, caches, plans
        for path, params in calls.values():
            assert client.get(path, params=params, headers=auth).status_code == 200
    for _ in range(runs):
        for name, (path, params) in calls.items():
            t0 = time.perf_counter()
            r = client.get(path, params=params, headers=auth)
            out[name].append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def chunks(total: int, size: int) -> Iterator[int]:
    done = 0
    while done < total:
        step = min(size, total - done)
        yield step
        done += step


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--checkpoints", default="100000,1000000")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--verify", action="store_true", help="recount from the rows and compare")
    parser.add_argument("--keep", action="store_true", help="do not drop the database after")
    args = parser.parse_args()
    checkpoints = sorted({int(c) for c in args.checkpoints.split(",")} | {args.documents})
    checkpoints = [c for c in checkpoints if c <= args.documents]

    base = (
        os.environ.get("LIENTHONG_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    )
    admin = create_engine(_psycopg(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    url = make_url(_psycopg(base)).set(database=DB_NAME).render_as_string(hide_password=False)
    try:
        return run(url, args, checkpoints)
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        admin.dispose()


def run(url: str, args: argparse.Namespace, checkpoints: list[int]) -> int:
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.core.db import make_engine
    from app.core.migrate import upgrade
    from app.main import create_app
    from app.stats.listener import apply
    from app.stats.recount import differences

    upgrade(url)
    engine = make_engine(url)
    local, external, key = seed_directory(engine)
    gen = Generator(local, external)
    print(
        f"PostgreSQL database {DB_NAME}: {len(local)} local and {len(external)} external organizations"
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        data_dir=Path(tempfile.mkdtemp(prefix="bench-stats-")),
        key_passphrase="bench",
        worker_enabled=False,
        readyz_requires_worker=False,
        log_level="WARNING",
    )
    results: list[tuple[int, dict[str, list[float]], int]] = []
    loaded = 0
    failed = False
    with TestClient(create_app(settings)) as client:
        for target in checkpoints:
            t0 = time.perf_counter()
            for n in chunks(target - loaded, 50_000):
                docs, dels, sts, tally = gen.batch(n)
                raw = engine.raw_connection()
                try:
                    copy_rows(raw.driver_connection, "documents", DOC_COLS, docs)
                    copy_rows(raw.driver_connection, "deliveries", DEL_COLS, dels)
                    copy_rows(raw.driver_connection, "status_messages", STATUS_COLS, sts)
                    raw.commit()
                finally:
                    raw.close()
                with engine.begin() as conn:
                    apply(conn, tally)
                loaded += n
                print(f"  loaded {loaded:,} documents", file=sys.stderr)
            # What autovacuum does between batches in production: the bulk upserts above
            # rewrote every counter row once per batch.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE stats_daily, stats_monthly")
                conn.exec_driver_sql("ANALYZE")
                rows = conn.exec_driver_sql("SELECT count(*) FROM stats_daily").scalar()
                dcount = conn.exec_driver_sql("SELECT count(*) FROM deliveries").scalar()
            print(
                f"{loaded:,} documents, {dcount:,} deliveries, {rows:,} counter rows "
                f"(load {time.perf_counter() - t0:.0f} s)"
            )
            if args.verify:
                t1 = time.perf_counter()
                with engine.connect() as conn:
                    diffs = differences(conn)
                print(
                    f"  full recount from the rows: {time.perf_counter() - t1:.1f} s, {len(diffs)} differences"
                )
                failed |= bool(diffs)
            measured = timings(client, key, args.runs)
            results.append((loaded, measured, int(rows or 0)))
            for name, values in measured.items():
                med, p95 = statistics.median(values), pct(values, 0.95)
                verdict = "ok" if p95 < TARGET_MS else "OVER TARGET"
                print(
                    f"  GET /stats/{name:18} median {med:7.1f} ms  p95 {p95:7.1f} ms  "
                    f"max {max(values):7.1f} ms  ({args.runs} runs) {verdict}"
                )
                failed |= p95 >= TARGET_MS
    engine.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
