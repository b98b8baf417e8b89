"""pgqueuer as a peer of ferry's task queue in `ferry-bench tasks --peers`.

One invocation does one thing to the database named by --url and prints one
JSON line on stdout; `ferry-bench` starts it, reads that line and times
nothing itself, so that the interpreter's start-up is never part of a figure.

    python peer.py prepare --url URL --n N        schema, plus N queued jobs (untimed)
    python peer.py submit-single --url URL --n N  16 clients, one enqueue per call
    python peer.py submit-bulk --url URL --n N    one enqueue call with lists of N
    python peer.py drain --url URL                run queued no-op jobs until stdin closes

`drain` prints {"ready": true} once it is connected, starts its queue manager
when a line arrives on stdin (so that several processes start together), and
when stdin closes stops it and prints the window in which its handlers ran:
the first job's start and the last job's finish, as wall-clock milliseconds,
which the caller combines over processes on the same host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import asyncpg
from pgqueuer import AsyncpgDriver, AsyncpgPoolDriver, Queries, QueueManager
from pgqueuer.models import Job

ENTRYPOINT = "noop"


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def install(url: str) -> None:
    """Installs pgqueuer's tables, types and triggers (`pgq install` does the
    same) unless they are there already."""
    connection = await asyncpg.connect(url)
    try:
        queries = Queries(AsyncpgDriver(connection))
        if not await queries.schema_is_installed():
            await queries.install()
    finally:
        await connection.close()


async def enqueue_bulk(queries: Queries, n: int) -> None:
    """One `enqueue` call with lists: one INSERT statement of `n` rows."""
    await queries.enqueue([ENTRYPOINT] * n, [None] * n, [0] * n)


async def prepare(args: argparse.Namespace) -> None:
    await install(args.url)
    if args.n > 0:
        connection = await asyncpg.connect(args.url)
        try:
            await enqueue_bulk(Queries(AsyncpgDriver(connection)), args.n)
        finally:
            await connection.close()
    emit({"mode": "prepare", "count": args.n})


async def submit_single(args: argparse.Namespace) -> None:
    """`n` single enqueues from `clients` asyncio tasks in a closed loop, on a
    pool with one connection per client, opened before the clock starts."""
    await install(args.url)
    pool = await asyncpg.create_pool(args.url, min_size=args.clients, max_size=args.clients)
    try:
        queries = Queries(AsyncpgPoolDriver(pool))
        remaining = args.n

        async def client() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await queries.enqueue(ENTRYPOINT, None)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(args.clients)))
        seconds = time.perf_counter() - started
    finally:
        await pool.close()
    emit({"mode": "submit-single", "count": args.n, "seconds": seconds})


async def submit_bulk(args: argparse.Namespace) -> None:
    await install(args.url)
    connection = await asyncpg.connect(args.url)
    try:
        queries = Queries(AsyncpgDriver(connection))
        started = time.perf_counter()
        await enqueue_bulk(queries, args.n)
        seconds = time.perf_counter() - started
    finally:
        await connection.close()
    emit({"mode": "submit-bulk", "count": args.n, "seconds": seconds})


async def next_line() -> str:
    """The next line of stdin, or '' at its end, without blocking the loop."""
    return await asyncio.to_thread(sys.stdin.readline)


async def drain(args: argparse.Namespace) -> None:
    connection = await asyncpg.connect(args.url)
    qm = QueueManager(Queries(AsyncpgDriver(connection)))
    window = {"count": 0, "first": None, "last": None}

    @qm.entrypoint(ENTRYPOINT)
    async def noop(job: Job) -> None:
        now = time.time() * 1000.0
        if window["first"] is None:
            window["first"] = now
        window["count"] += 1
        window["last"] = time.time() * 1000.0

    emit({"ready": True})
    await next_line()
    running = asyncio.create_task(qm.run(batch_size=args.batch_size))
    # Runs until the caller closes stdin: it decides, from the database, when
    # every process together has finished the batch.
    while await next_line():
        pass
    # Setting the shutdown event is pgqueuer's own way to stop a queue
    # manager: it finishes the jobs in hand and flushes their status log.
    qm.shutdown.set()
    await running
    if not connection.is_closed():
        await connection.close()
    emit(
        {
            "mode": "drain",
            "count": window["count"],
            "first_start_ms": window["first"],
            "last_finish_ms": window["last"],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["prepare", "submit-single", "submit-bulk", "drain"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    modes = {
        "prepare": prepare,
        "submit-single": submit_single,
        "submit-bulk": submit_bulk,
        "drain": drain,
    }
    asyncio.run(modes[args.mode](args))


if __name__ == "__main__":
    main()
