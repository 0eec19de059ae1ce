"""Admission queue, worker pool deadlines and token checks, without a server."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from retrieval.errors import ConfigError
from retrieval.service.admission import BATCH, INTERACTIVE, Admission
from retrieval.service.auth import TOKENS_ENV, TokenSet, load_tokens
from retrieval.service.errors import DeadlineExpired, NotServing, Overloaded
from retrieval.service.workers import CpuPool


async def _hold(admission: Admission, priority: int, release: asyncio.Event, log: list[str], name: str,
                deadline: float | None = None) -> None:  # fmt: skip
    async with admission.slot(priority, deadline):
        log.append(name)
        await release.wait()


def test_calls_beyond_the_queue_are_refused_at_once() -> None:
    async def scenario() -> None:
        depths: list[int] = []
        admission = Admission(max_inflight=2, queue_limit=1, on_queue_depth=depths.append)
        release, log = asyncio.Event(), []
        running = [asyncio.create_task(_hold(admission, INTERACTIVE, release, log, f"r{i}")) for i in range(3)]
        await asyncio.sleep(0.01)
        assert (admission.inflight, admission.queued) == (2, 1)
        started = time.perf_counter()
        with pytest.raises(Overloaded, match="2 calls running and 1 queued"):
            async with admission.slot(INTERACTIVE, None):
                pass
        assert time.perf_counter() - started < 0.05  # refused, not timed out
        release.set()
        await asyncio.gather(*running)
        assert log == ["r0", "r1", "r2"] and (admission.inflight, admission.queued) == (0, 0)
        assert depths[0] == 1 and depths[-1] == 0

    asyncio.run(scenario())


def test_interactive_calls_go_before_batch_calls() -> None:
    async def scenario() -> None:
        admission = Admission(max_inflight=1, queue_limit=10)
        log: list[str] = []
        gates = {name: asyncio.Event() for name in ("first", "batch1", "batch2", "search")}
        tasks = [asyncio.create_task(_hold(admission, INTERACTIVE, gates["first"], log, "first"))]
        await asyncio.sleep(0)
        for name, priority in (("batch1", BATCH), ("batch2", BATCH), ("search", INTERACTIVE)):
            tasks.append(asyncio.create_task(_hold(admission, priority, gates[name], log, name)))
            await asyncio.sleep(0)
        for gate in gates.values():
            gate.set()
        await asyncio.gather(*tasks)
        assert log == ["first", "search", "batch1", "batch2"]

    asyncio.run(scenario())


def test_a_deadline_passing_in_the_queue_drops_the_call_and_frees_its_place() -> None:
    async def scenario() -> None:
        admission = Admission(max_inflight=1, queue_limit=1)
        release, log = asyncio.Event(), []
        holder = asyncio.create_task(_hold(admission, INTERACTIVE, release, log, "holder"))
        await asyncio.sleep(0)
        with pytest.raises(DeadlineExpired, match="admission queue"):
            await _hold(admission, INTERACTIVE, release, log, "late", deadline=time.monotonic() + 0.05)
        assert admission.queued == 0 and "late" not in log
        waiter = asyncio.create_task(_hold(admission, INTERACTIVE, release, log, "next"))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(holder, waiter)
        assert log == ["holder", "next"] and admission.inflight == 0

    asyncio.run(scenario())


def test_a_cancelled_waiter_leaks_no_slot() -> None:
    async def scenario() -> None:
        admission = Admission(max_inflight=1, queue_limit=5)
        release, log = asyncio.Event(), []
        holder = asyncio.create_task(_hold(admission, INTERACTIVE, release, log, "holder"))
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(_hold(admission, BATCH, release, log, f"w{i}")) for i in range(3)]
        await asyncio.sleep(0)
        waiters[1].cancel()
        release.set()
        await asyncio.gather(holder, waiters[0], waiters[2])
        assert waiters[1].cancelled() and log == ["holder", "w0", "w2"]
        assert (admission.inflight, admission.queued) == (0, 0)

    asyncio.run(scenario())


def test_a_closed_queue_refuses_new_calls_but_serves_queued_ones() -> None:
    async def scenario() -> None:
        admission = Admission(max_inflight=1, queue_limit=5)
        release, log = asyncio.Event(), []
        holder = asyncio.create_task(_hold(admission, INTERACTIVE, release, log, "holder"))
        await asyncio.sleep(0)
        queued = asyncio.create_task(_hold(admission, INTERACTIVE, release, log, "queued"))
        await asyncio.sleep(0)
        admission.close()
        with pytest.raises(NotServing, match="shutting down"):
            await _hold(admission, INTERACTIVE, release, log, "new")
        release.set()
        await asyncio.gather(holder, queued)
        assert log == ["holder", "queued"]

    asyncio.run(scenario())


def test_the_pool_drops_a_job_whose_deadline_passed_while_queued() -> None:
    async def scenario() -> None:
        pool = CpuPool(1)
        gate = threading.Event()
        ran: list[str] = []

        def blocker() -> None:
            gate.wait(5)
            ran.append("blocker")

        first = asyncio.ensure_future(pool.run(blocker))
        late = asyncio.ensure_future(pool.run(lambda: ran.append("late"), deadline=time.monotonic() + 0.05))
        await asyncio.sleep(0.1)  # the deadline passes while the only thread is busy
        gate.set()
        await first
        with pytest.raises(DeadlineExpired, match="before its work could start"):
            await late
        assert ran == ["blocker"]
        assert await pool.run(lambda: 42, deadline=time.monotonic() + 5) == 42
        pool.shutdown()

    asyncio.run(scenario())


# -- tokens ------------------------------------------------------------------------------------


def test_tokens_come_from_the_file_and_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text("# ops team\nalpha\n\n  beta  \n", encoding="utf-8")
    assert load_tokens(file, {TOKENS_ENV: "gamma, delta,"}) == {"alpha", "beta", "gamma", "delta"}
    assert load_tokens(None, {}) == frozenset()
    with pytest.raises(ConfigError, match="cannot read the token file"):
        load_tokens(tmp_path / "missing", {})
    (tmp_path / "empty").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no tokens"):
        load_tokens(tmp_path / "empty", {})


def test_token_matching() -> None:
    tokens = TokenSet(["alpha", "beta"])
    assert tokens.allows([("authorization", "Bearer beta")])
    assert tokens.allows([("x-other", "1"), ("authorization", "bearer   alpha ")])
    for metadata in ([], [("authorization", "Bearer gamma")], [("authorization", "Basic alpha")],
                     [("authorization", "alpha")], [("authorization", "Bearer ")], [("authorization", "Bearer alph")]):  # fmt: skip
        assert not tokens.allows(metadata), metadata
    with pytest.raises(ConfigError):
        TokenSet([])
