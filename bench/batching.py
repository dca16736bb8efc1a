"""Group commit, measured before anyone builds it (issue 12's next step).

The rows one accepted submission writes (its blob, document, validation report, delivery,
trace events, audit entry and counter delta: copies of real rows, on the real tables with
their indexes) are written either one document per transaction, as the hub does today (one
INSERT per table, then COMMIT), or N documents per transaction with one multi-row INSERT per
table. Prints, per document, the client's CPU (SQLAlchemy Core + psycopg), the PostgreSQL
backend's CPU and the wall time.

Needs the database `bench/profile_submit.py` leaves (it reads one submission's rows there):

    .venv/bin/python bench/profile_submit.py --count 50 --no-profile
    .venv/bin/python bench/batching.py [--database lienthong_bench_profile] [--count 1600]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import app.models  # noqa: E402, F401  (every table on Base.metadata)
from app.core.db import Base  # noqa: E402
from bench.throughput import PG, _cpu_of  # noqa: E402

TABLES = (
    "blobs",
    "documents",
    "validation_reports",
    "deliveries",
    "trace_events",
    "audit_pending",
    "stats_deltas",
)
Rows = list[tuple[str, list[dict[str, Any]]]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", default="lienthong_bench_profile")
    ap.add_argument("--count", type=int, default=1600)
    args = ap.parse_args()
    url = make_url(PG).set(database=args.database, drivername="postgresql+psycopg")
    engine = create_engine(url, pool_size=2)
    t = Base.metadata.tables
    with engine.connect() as c:
        doc = dict(c.execute(select(t["documents"]).limit(1)).mappings().one())
        of_doc = t["validation_reports"].c.document == doc["id"]
        report = dict(c.execute(select(t["validation_reports"]).where(of_doc)).mappings().one())
        delivery = dict(
            c.execute(select(t["deliveries"]).where(t["deliveries"].c.document == doc["id"]))
            .mappings()
            .first()
            or {}
        )
        traces = [
            {k: v for k, v in r.items() if k != "id"}
            for r in c.execute(
                select(t["trace_events"]).where(t["trace_events"].c.document == doc["id"])
            ).mappings()
        ]
        blob = dict(
            c.execute(select(t["blobs"]).where(t["blobs"].c.digest == doc["blob"])).mappings().one()
        )
    delta_columns = [col.name for col in t["stats_deltas"].c if col.name != "id"]
    statements = {name: insert(t[name]) for name in TABLES}

    def one_submission() -> Rows:
        tag = uuid.uuid4().hex
        d = doc | {"id": str(uuid.uuid4()), "document_id": tag[:20]}
        d["blob"] = hashlib.sha256(tag.encode()).hexdigest()
        v = delivery | {"id": str(uuid.uuid4()), "document": d["id"], "message_id": d["id"]}
        events = [
            e | {"document": d["id"], "delivery": v["id"] if e["delivery"] else None}
            for e in traces
        ]
        entry = {
            "at": d["accepted_at"],
            "actor": "bench",
            "action": "document.accepted",
            "target_type": "document",
            "target_id": d["id"],
            "details": json.dumps({"document_id": d["document_id"], "sha256": d["blob"]}),
        }
        day = d["accepted_at"].date()
        fixed = {"organ_id": d["from_organ"], "day": day, "year": day.year, "month": day.month}
        delta = {k: fixed.get(k, 1) for k in delta_columns}
        return [
            ("blobs", [blob | {"digest": d["blob"]}]),
            ("documents", [d]),
            ("validation_reports", [report | {"id": str(uuid.uuid4()), "document": d["id"]}]),
            ("deliveries", [v]),
            ("trace_events", events),
            ("audit_pending", [entry]),
            ("stats_deltas", [delta]),
        ]

    def run(batch: int) -> tuple[float, float, float]:
        work = [one_submission() for _ in range(args.count)]
        with engine.connect() as c:
            pid = c.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            c.rollback()
            db0, cpu0, t0 = _cpu_of(pid), time.process_time(), time.perf_counter()
            for k in range(0, args.count, batch):
                group = work[k : k + batch]
                with c.begin():
                    for i, (name, _rows) in enumerate(group[0]):
                        c.execute(statements[name], [row for g in group for row in g[i][1]])
            cpu, db = time.process_time() - cpu0, _cpu_of(pid) - db0
            wall = time.perf_counter() - t0
        return cpu * 1000 / args.count, db * 1000 / args.count, wall * 1000 / args.count

    for _ in range(2):
        for batch in (1, 4, 8, 16):
            cpu, db, wall = run(batch)
            print(
                f"{batch:2d} documents per transaction: client CPU {cpu:.2f} ms, PostgreSQL "
                f"{db:.2f} ms, wall {wall:.2f} ms per document",
                flush=True,
            )
    engine.dispose()


if __name__ == "__main__":
    main()
