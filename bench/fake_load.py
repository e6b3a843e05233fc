"""How many requests per second the fake serves, so it is never a benchmark's bottleneck.

    python -m bench.fake_load [--duration 5] [--concurrency 32] [--in-process]

Starts `python -m fakes` on a free loopback port (or serves it on this event loop with
`--in-process`), seeds runs and PRs, then keeps `--concurrency` requests in flight for
`--duration` seconds, mixing the reads a worker makes: get run, list runs, get PR, check runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import httpx

from bench.results import record
from devstack.services import run_fake_process, serve_fake
from fakes import FakeConfig
from models.codegen import PullRequestRef

AUTH = {"Authorization": "Bearer bench"}
SEED_RUNS = 20
INSTANT = {"run_seconds": 0, "checks_seconds": 0, "review_seconds": 0, "merge_seconds": 0}


async def seed(http: httpx.AsyncClient) -> list[str]:
    """Create runs whose PRs stay open; return the read paths the load loop cycles through."""
    paths: list[str] = ["/v1/organizations/1/agent/runs?limit=10"]
    for i in range(SEED_RUNS):
        metadata = {"task_id": f"bench-{i}", "attempt": 1, "scenario": {"outcome": "leave_open"}}
        run = (await http.post("/v1/organizations/1/agent/run", json={"prompt": "bench", "metadata": metadata}, headers=AUTH)).json()
        paths.append(f"/v1/organizations/1/agent/run/{run['id']}")
    for i in range(SEED_RUNS):
        run = (await http.get(paths[i + 1], headers=AUTH)).json()
        while not run["github_pull_requests"]:
            await asyncio.sleep(0.01)
            run = (await http.get(paths[i + 1], headers=AUTH)).json()
        ref = PullRequestRef.from_url(run["github_pull_requests"][0]["url"])
        assert ref is not None
        owner_repo, number = ref.repository, ref.number
        pr = (await http.get(f"/repos/{owner_repo}/pulls/{number}")).json()
        paths += [f"/repos/{owner_repo}/pulls/{number}", f"/repos/{owner_repo}/commits/{pr['head']['sha']}/check-runs"]
    return paths


async def keep_alive_reader(url: str, paths: list[str], offset: int, stop_at: float, statuses: Counter[int]) -> None:
    """GET `paths` in turn on one keep-alive connection until `stop_at`.

    A bare HTTP/1.1 loop rather than httpx: httpx's pool spends more CPU per request than the
    fake does, so it would measure the client instead of the server.
    """
    host, port = httpx.URL(url).host, httpx.URL(url).port
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.monotonic() < stop_at:
            request = f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {AUTH['Authorization']}\r\n\r\n"
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
            )
            await reader.readexactly(length)
            statuses[int(head[9:12])] += 1
            i += 1
    finally:
        writer.close()
        await writer.wait_closed()


async def load(url: str, duration: float, concurrency: int) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as http:
        paths = await seed(http)
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    await asyncio.gather(*(keep_alive_reader(url, paths, n, started + duration, statuses) for n in range(concurrency)))
    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    return {
        "requests": total,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(total / elapsed),
        "concurrency": concurrency,
        "statuses": {str(code): count for code, count in statuses.items()},
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--in-process", action="store_true", help="serve the fake on this event loop")
    args = parser.parse_args()
    instant_env = {f"FAKE_{name.upper()}": "0" for name in INSTANT} | {"WEBHOOK_SECRET": ""}
    server = serve_fake(FakeConfig(**INSTANT)) if args.in_process else run_fake_process(instant_env)
    async with server as url:
        figures = await load(url, args.duration, args.concurrency)
    figures["server"] = "in-process uvicorn" if args.in_process else "python -m fakes (own process)"
    print(f"fake: {figures['requests_per_s']} requests/s ({figures['requests']} in {figures['seconds']} s, "
          f"{args.concurrency} in flight, {figures['server']}, statuses {figures['statuses']})")
    record("fake_load_in_process" if args.in_process else "fake_load", figures)


if __name__ == "__main__":
    asyncio.run(main())
