"""Where one submission's time goes, independent of the machine's load (SPEC section 12).

Seeds a fresh PostgreSQL database (as bench/throughput.py does), then submits N unsigned
~20 KB documents (the hub signs them) through the ASGI app in this process, one after the
other, and prints:

- SQL statements per submission (counted with an engine event, by kind), and round trips;
- the CPU profile (cProfile) of the submissions: the top functions by cumulative and by own
  time, as fractions of the total, which do not depend on how loaded the machine is.

    .venv/bin/python bench/profile_submit.py [--count 300] [--top 30] [--signed]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import CpuMeter, demo_hub, make_documents  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--database",
        default="lienthong_bench_profile",
        help="the PostgreSQL database to (re)create: two runs at once need two names",
    )
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--signed", action="store_true", help="client-signed documents (verify)")
    ap.add_argument("--cpu", action="store_true", help="CPU time of this process, not wall time")
    ap.add_argument(
        "--no-profile",
        action="store_true",
        help="no cProfile (run under `py-spy record -- …` for a sampled profile instead)",
    )
    args = ap.parse_args()

    url, _work, env, keys = demo_hub(
        args.database, "lienthong-prof-", {"LIENTHONG_WORKER_ENABLED": "false"}
    )
    auth = {"Authorization": f"Bearer {keys['system:so-noi-vu']}"}
    docs = make_documents(url, "bench-passphrase", 2 * args.count + 20, signed=args.signed)
    os.environ.update(env)

    import anyio.to_thread
    import httpx
    from sqlalchemy import event

    from app.core.config import Settings
    from app.main import create_app

    app = create_app(Settings())
    kinds: collections.Counter[str] = collections.Counter()
    last: list[str] = []  # the statements of the last submission

    @event.listens_for(app.state.engine, "before_cursor_execute")
    def _count(_c: Any, _cur: Any, statement: str, _p: Any, _ctx: Any, many: bool) -> None:
        kinds[statement.lstrip().split(None, 1)[0].upper() + (" (many)" if many else "")] += 1
        last.append(" ".join(statement.split())[:150])

    @event.listens_for(app.state.engine, "commit")
    def _commit(_c: Any) -> None:
        kinds["COMMIT"] += 1
        last.append("COMMIT")

    # Everything on this thread, so that cProfile sees the handlers too: what FastAPI and the
    # gate would run in worker threads is run inline (one request at a time anyway).
    async def inline(func: Any, *a: Any, **_kw: Any) -> Any:
        return func(*a)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    headers = auth | {"Content-Type": "application/xml"}
    prof = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
    cpu = [0.0, 0.0]
    meter = CpuMeter(os.getpid(), args.database)

    async def run() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            for doc in docs[:20]:  # warm-up: caches, pool
                r = await client.post("/api/v1/documents", content=doc, headers=headers)
                assert r.status_code == 202, r.text
            # CPU time of this process per submission, without the profiler's overhead: far
            # less sensitive to other load on the machine than wall time.
            kinds.clear()
            _, db0, _ = meter.snapshot()
            cpu0 = time.process_time()
            for doc in docs[20 + args.count :]:
                r = await client.post("/api/v1/documents", content=doc, headers=headers)
                assert r.status_code == 202, r.text
            cpu[0] = (time.process_time() - cpu0) / args.count
            _, db1, _ = meter.snapshot()
            cpu[1] = (db1 - db0) / args.count
            if args.no_profile:
                return 0.0
            kinds.clear()
            t0 = time.perf_counter()
            prof.enable()
            for doc in docs[20 : 20 + args.count]:
                last.clear()
                r = await client.post("/api/v1/documents", content=doc, headers=headers)
                assert r.status_code == 202, r.text
            prof.disable()
            return time.perf_counter() - t0

    elapsed = asyncio.run(run())
    n = args.count
    total = sum(kinds.values())
    if args.no_profile:
        print(f"CPU of the hub's code per submission (process time): {cpu[0] * 1000:.2f} ms")
        print(f"CPU of PostgreSQL's backends per submission: {cpu[1] * 1000:.2f} ms")
        print(f"SQL per submission: {total / n:.1f} round trips")
        return

    print(
        f"CPU of the hub's code per submission (process time, no profiler): {cpu[0] * 1000:.2f} ms"
    )
    print(f"{n} submissions, {elapsed / n * 1000:.2f} ms each (wall, load-dependent)")
    print(
        f"SQL per submission: {total / n:.1f} round trips: "
        + ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    )
    print("the last submission's statements:")
    for line in last:
        print("   ", line)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    total_tt = stats.total_tt  # type: ignore[attr-defined]
    print(f"CPU profile: {total_tt / n * 1000:.2f} ms of profiled time per submission")
    rows = []
    for func, (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((ct, tt, func))
    print(f"\ntop {args.top} by cumulative time (share of the total):")
    for ct, tt, (file, line, name) in sorted(rows, key=lambda r: -r[0])[: args.top]:
        print(
            f"  {ct / total_tt * 100:5.1f} %  own {tt / total_tt * 100:4.1f} %  {_short(file)}:{line} {name}"
        )
    print(f"\ntop {args.top} of the hub's own functions (app/) by cumulative time:")
    mine = [r for r in rows if r[2][0].startswith(str(ROOT / "app"))]
    for ct, _tt, (file, line, name) in sorted(mine, key=lambda r: -r[0])[: args.top]:
        print(
            f"  {ct / total_tt * 100:5.1f} %  {ct / n * 1000:6.2f} ms  {_short(file)}:{line} {name}"
        )
    print(f"\ntop {args.top} by own time:")
    for _ct, tt, (file, line, name) in sorted(rows, key=lambda r: -r[1])[: args.top]:
        print(f"  {tt / total_tt * 100:5.1f} %  {_short(file)}:{line} {name}")


def _short(file: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


if __name__ == "__main__":
    main()
