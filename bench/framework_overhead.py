"""The framework's CPU per `POST /api/v1/documents`, the pipeline left out (SPEC section 12).

Seeds a PostgreSQL database as bench/profile_submit.py does, then replaces
`pipeline.submit_from_api` with a stub that runs one `SELECT 1` on the request's session (so
there is a transaction to commit) and answers a fixed 202 body, and sends N requests through
the ASGI app in this process, `--concurrency` at a time, with FastAPI's worker threads as in
the server (nothing inlined). It prints the process time per request: the middleware, gate,
routing, dependencies, thread hops, commit and response, which is what this number compares
between two versions (run one checkout's copy of this file, then the other's).

With `--server`, the same stubbed app runs in one `uvicorn` process with `serve`'s options
(httptools, uvloop) and this process drives it over HTTP with bench/throughput.py's
closed loop; what is printed is then the server process's CPU per request.

    .venv/bin/python bench/framework_overhead.py [--count 2000] [--concurrency 16] [--server]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import _cpu_of, closed_loop, demo_hub, free_port, wait_until_up  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", default="lienthong_bench_framework_overhead")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--server", action="store_true", help="through uvicorn, over HTTP")
    ap.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)  # the server child
    args = ap.parse_args()
    if args.serve_port:
        serve(args.serve_port)
        return

    _url, _work, env, keys = demo_hub(
        args.database,
        "lienthong-fw-",
        {"LIENTHONG_WORKER_ENABLED": "false", "PYTHONPATH": str(ROOT)},
    )
    os.environ.update(env)

    auth = {"Authorization": f"Bearer {keys['system:so-noi-vu']}"}
    headers = auth | {"Content-Type": "application/xml"}
    payload = b"<edXML/>" * 2000  # ~16 KB, read by the body dependency, never parsed
    if args.server:
        over_http(args, auth, payload)
        return

    import httpx

    app = stubbed_app()

    async def run() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:

            async def one() -> None:
                r = await client.post("/api/v1/documents", content=payload, headers=headers)
                assert r.status_code == 202, r.text

            async def batch(n: int) -> None:
                for start in range(0, n, args.concurrency):
                    await asyncio.gather(*(one() for _ in range(min(args.concurrency, n - start))))

            await batch(200)  # warm-up
            cpu0 = time.process_time()
            await batch(args.count)
            return (time.process_time() - cpu0) / args.count

    cpu = asyncio.run(run())
    print(f"framework CPU per request (process time, pipeline stubbed): {cpu * 1e6:.0f} µs")


def stubbed_app() -> Any:
    from sqlalchemy import text

    from app.core.config import Settings
    from app.documents import pipeline
    from app.main import create_app

    body = {
        "id": "0" * 36,
        "state": "accepted",
        "deliveries": [{"organ_id": "x"} for _ in range(3)],
    }

    class Doc:
        id = "0" * 36

    def stub(session: Any, *_a: Any, **_kw: Any) -> Any:
        session.execute(text("SELECT 1"))
        return pipeline.Answer(status=202, body=body, document=Doc())  # type: ignore[arg-type]

    pipeline.submit_from_api = stub  # type: ignore[assignment]
    return create_app(Settings())


def serve(port: int) -> None:
    import uvicorn

    from app.api.server import uvicorn_options
    from app.core.config import Settings

    app = stubbed_app()
    options = uvicorn_options(Settings())
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, **options)


def over_http(args: argparse.Namespace, auth: dict[str, str], payload: bytes) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        asyncio.run(closed_loop(base, auth, [payload] * 300, args.concurrency))  # warm-up
        cpu0 = _cpu_of(server.pid)
        rate, _latencies, accepted = asyncio.run(
            closed_loop(base, auth, [payload] * args.count, args.concurrency)
        )
        cpu = (_cpu_of(server.pid) - cpu0) / args.count
        assert len(accepted) == args.count, f"{len(accepted)} of {args.count} accepted"
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"server CPU per request (one uvicorn process, pipeline stubbed): {cpu * 1e6:.0f} µs"
        f" at {rate:.0f} requests/s, {args.concurrency} clients"
    )


if __name__ == "__main__":
    main()
