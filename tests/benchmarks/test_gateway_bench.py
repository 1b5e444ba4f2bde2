"""`python -m benchmarks.gateway`: its load generator counts what it should, and a tiny run
end to end (three node processes, a baseline process, load processes) reports sane figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from benchmarks.gateway import main, tree_cpu
from benchmarks.loadgen import drive, percentile

TINY = ["--requests", "20", "--verify-requests", "6", "--concurrency", "3", "--rows", "10"]
TINY += ["--rounds", "2"]


async def _answer(request: web.Request) -> web.StreamResponse:
    verdict = request.match_info["verdict"]
    status = 500 if verdict == "broken" else 200
    if request.query.get("as") == "chunks":  # no Content-Length: the body comes in chunks
        streamed = web.StreamResponse(status=status)
        streamed.enable_chunked_encoding()
        await streamed.prepare(request)
        for part in (b'{"verdict": ', f'"{verdict}"'.encode(), b"}"):
            await streamed.write(part)
        await streamed.write_eof()
        return streamed
    answer = web.json_response({"verdict": verdict}, status=status)
    if request.query.get("as") == "close":  # the server ends the connection after answering
        answer.force_close()
    return answer


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{verdict}", _answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 21)]
    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 0.95) == 19.0
    assert percentile([3.0], 0.95) == 3.0


def test_tree_cpu_counts_the_processes_a_server_started() -> None:
    burn = (
        "import sys, time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    )
    burn += "print('done', flush=True)\nsys.stdin.read()"
    child = subprocess.Popen(
        [sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "done"
        assert tree_cpu(child.pid) >= 0.29  # clock ticks
        assert tree_cpu(os.getpid()) >= time.process_time() + 0.25  # ours and the child's
    finally:
        child.communicate("")


async def test_load_counts_every_request_and_each_failure(server: str) -> None:
    urls = [f"{server}/valid", f"{server}/broken"]  # every other request answers 500

    result = await drive(urls, 30, 4, None, check_valid=False)

    assert (result.requests, result.failures) == (30, 15)
    assert 0 < result.p50 <= result.p95 and result.seconds > 0
    assert result.rate == pytest.approx(15 / result.seconds)


async def test_load_reads_chunked_answers_and_reconnects_when_the_server_closes(
    server: str,
) -> None:
    body = json.dumps({"any": "badge"}).encode()

    chunked = await drive([f"{server}/valid?as=chunks"], 12, 3, body, check_valid=True)
    closed = await drive([f"{server}/valid?as=close"], 12, 3, body, check_valid=True)
    invalid = await drive([f"{server}/revoked?as=chunks"], 12, 3, body, check_valid=True)

    assert (chunked.failures, closed.failures, invalid.failures) == (0, 0, 12)


async def test_checking_verdicts_fails_a_report_that_is_not_valid(server: str) -> None:
    body = json.dumps({"any": "badge"}).encode()

    valid = await drive([f"{server}/valid"], 10, 2, body, check_valid=True)
    invalid = await drive([f"{server}/indeterminate"], 10, 2, body, check_valid=True)

    assert (valid.failures, invalid.failures) == (0, 10)


@pytest.mark.slow  # five node processes start, and a batch is issued: about 30 s
def test_tiny_run_measures_every_target_and_issues_the_whole_batch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = main(TINY)

    assert report is not None
    loads = (
        (report.baseline, 20),
        (report.bns, 20),
        (report.verify_thread, 6),
        (report.verify_one, 6),
        (report.verify, 6),
        (report.verify_uid, 20),
    )
    for load, count in loads:
        assert (load.requests, load.failures) == (count, 0)
        assert 0 < load.p50 <= load.p95 < 30
    assert report.scaling > 0 and report.workers >= 1
    batch = report.batch
    assert batch is not None and (batch.rows, batch.issued, batch.failed) == (10, 10, 0)
    assert 0 < batch.until_done <= batch.until_published

    printed = capsys.readouterr().out
    assert "| bare aiohttp handler (baseline) | 20 | 0 |" in printed
    assert "| POST /verify, one signed badge, one worker process | 6 | 0 |" in printed
    assert "| GET /verify/{uid}, 5 badges seen before | 20 | 0 |" in printed
    assert "| one batch | 10 | 10 | 0 |" in printed
    assert "POST /verify on every core: " in printed
