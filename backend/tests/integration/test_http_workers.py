"""``pacs serve --workers N`` (pacs.workers): N processes serve HTTP on one port, as the real command runs them.

Checked with the real command in its own process group: every process answers requests on the shared port, a
store through one is found through the others, a crashed worker is started again, a SIGTERM to the first
process stops them all with exit 0, and a first process killed outright takes its workers with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom.uid import generate_uid

from pacs.workers import cpu_count, worker_count
from tests.conftest import free_port
from tests.dicomfactory import ct_bytes, multipart

DRAIN = 0.5
TIMEOUT = 5.0


def children(pid: int) -> list[int]:
    out: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out.extend(int(k) for k in f.read().split())
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(cond, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def answering_pids(url: str, n: int = 60) -> set[int]:
    """The processes that answered ``n`` requests, each on a new connection."""
    pids = set()
    for _ in range(n):
        r = httpx.get(f"{url}/healthz", timeout=5)
        assert r.status_code == 200
        pids.add(r.json()["pid"])
    return pids


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PACS_")},
        "PACS_DATABASE_URL": database_url,
        "PACS_STORAGE_URL": str(tmp_path / "storage"),
        "PACS_VAR_DIR": str(tmp_path / "var"),
        "PACS_SEED_DEMO": "false",
        "PACS_SHUTDOWN_DRAIN_SECONDS": str(DRAIN),
        "PACS_SHUTDOWN_TIMEOUT_SECONDS": str(TIMEOUT),
        "PACS_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "serve.log"
    cmd = [str(Path(sys.executable).parent / "pacs"), "serve", "--only", "http", "--workers", "3"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or _ready(url), 60, "pacs serve to be ready")
        assert proc.poll() is None, log.read_text()
        wait_for(lambda: len(children(proc.pid)) == 2, 30, "two worker processes")
        seen: set[int] = set()

        def all_answer() -> bool:
            seen.update(answering_pids(url, 10))
            return len(seen) == 3

        wait_for(all_answer, 60, "all three processes to answer")
        yield proc, url, log
    finally:
        workers = children(proc.pid) if alive(proc.pid) else []
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_worker_count_is_one_per_core_by_default() -> None:
    assert worker_count(0) == cpu_count() == len(os.sched_getaffinity(0))
    assert worker_count(3) == 3
    with pytest.raises(ValueError, match="PACS_HTTP_WORKERS"):
        worker_count(-1)


def listen_queue(port: int) -> int:
    """The listening socket's queue length (``ss``: Send-Q of a LISTEN socket)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[2])


def test_every_worker_serves_the_port_and_shares_the_archive(served) -> None:  # type: ignore[no-untyped-def]
    proc, url, _ = served
    # Each process accepts one connection per wake-up, yet the kernel's queue keeps its full length.
    assert listen_queue(int(url.rsplit(":", 1)[1])) == 2048
    workers = set(children(proc.pid))
    pids = answering_pids(url)
    assert pids <= workers | {proc.pid}
    assert len(pids) >= 2, f"only {pids} answered: the port is not shared"

    # A store through whichever process takes it is visible through every other one (one index, one store).
    study = generate_uid()
    body, ctype = multipart([ct_bytes(study_uid=study, patient_id="WORKERS1")])
    r = httpx.post(f"{url}/dicom-web/studies", content=body, headers={"Content-Type": ctype}, timeout=30)
    assert r.status_code == 200, r.text
    seen = set()
    for _ in range(30):
        q = httpx.get(f"{url}/dicom-web/studies", params={"StudyInstanceUID": study}, timeout=10)
        assert q.status_code == 200 and len(q.json()) == 1
        seen.add(httpx.get(f"{url}/healthz", timeout=5).json()["pid"])
    assert len(seen) >= 2


def test_a_crashed_worker_is_started_again(served) -> None:  # type: ignore[no-untyped-def]
    proc, url, log = served
    before = set(children(proc.pid))
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    # Requests go on meanwhile: the other processes still accept on the port.
    assert answering_pids(url, 10)
    after = wait_for(
        lambda: (k := set(children(proc.pid))) and len(k) == 2 and victim not in k and k, 20, "a new worker"
    )
    assert before - {victim} < after
    new = (after - before).pop()
    wait_for(lambda: new in answering_pids(url, 20), 30, "the new worker to answer")
    assert f"(pid {victim}) exited with -9; starting it again" in log.read_text()


def test_sigterm_stops_every_worker_with_exit_0(served) -> None:  # type: ignore[no-untyped-def]
    proc, url, log = served
    workers = children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert httpx.get(f"{url}/readyz", timeout=5).status_code == 503  # every process is draining
    assert proc.wait(timeout=DRAIN + TIMEOUT + 10) == 0, log.read_text()
    assert not [pid for pid in workers if alive(pid)]
    assert log.read_text().count("signal SIGTERM: readiness is now false") == 3


def test_workers_stop_when_the_first_process_is_killed(served) -> None:  # type: ignore[no-untyped-def]
    proc, _url, _ = served
    workers = children(proc.pid)
    proc.kill()  # SIGKILL: nothing can pass a signal on; the kernel sends the workers SIGTERM
    proc.wait()
    wait_for(lambda: not [pid for pid in workers if alive(pid)], DRAIN + TIMEOUT + 10, "the workers to exit")
