"""Graceful shutdown of ``pacs serve`` (pacs.lifecycle), with the real command in its own process.

On SIGTERM: readiness turns false at once while everything is still served for the drain period; then the
HTTP listener closes, the in-flight STOW-RS upload and the open DIMSE association finish, and the process exits
0 within PACS_SHUTDOWN_DRAIN_SECONDS + PACS_SHUTDOWN_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.conftest import free_port
from tests.dicomfactory import ct_dataset, multipart, to_bytes

DRAIN = 2.0
TIMEOUT = 10.0


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"pacs serve exited early ({proc.returncode})"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("pacs serve did not become ready")


def test_sigterm_drains_then_finishes_in_flight_work_and_exits_0(database_url: str, tmp_path: Path) -> None:
    http_port, dimse_port = free_port(), free_port()
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
    log = (tmp_path / "serve.log").open("wb")
    cmd = [
        str(Path(sys.executable).parent / "pacs"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(http_port),
    ]
    proc = subprocess.Popen(
        [*cmd, "--dimse-port", str(dimse_port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        wait_ready(url, proc)

        # A DIMSE association, open across the whole shutdown.
        ae = AE(ae_title="SHUTDOWN")
        ae.add_requested_context(Verification)
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", dimse_port, ae_title="PACS")
        assert assoc.is_established

        # A STOW-RS upload that trickles in over ~4 s: in flight when SIGTERM arrives, done after the drain.
        stow_ds = ct_dataset(patient_id="SHUTDOWN1")
        body, ctype = multipart([to_bytes(stow_ds)])
        chunks = [body[i : i + 1024] for i in range(0, len(body), 1024)]
        pause = 4.0 / len(chunks)
        result: dict[str, httpx.Response] = {}

        def trickle() -> Iterator[bytes]:
            for c in chunks:
                yield c
                time.sleep(pause)

        def upload() -> None:
            result["stow"] = httpx.post(
                f"{url}/dicom-web/studies",
                content=trickle(),
                headers={"Content-Type": ctype, "Accept": "application/dicom+json"},
                timeout=30,
            )

        uploader = threading.Thread(target=upload)
        uploader.start()
        time.sleep(0.5)

        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # 1. Drain: not ready any more, but still serving, new requests included.
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 503
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        qido = httpx.get(f"{url}/dicom-web/studies", headers={"Accept": "application/dicom+json"}, timeout=5)
        assert qido.status_code in (200, 204)
        assert assoc.send_c_echo().Status == 0x0000

        # 2. After the drain the listener is closed, the upload still finishes...
        time.sleep(max(0.0, t0 + DRAIN + 0.7 - time.monotonic()))
        refused = False
        try:
            httpx.get(f"{url}/healthz", timeout=2)
        except httpx.HTTPError:
            refused = True
        assert refused, "no new HTTP connections after the drain period"
        uploader.join(30)
        assert result["stow"].status_code == 200, result["stow"].text
        assert proc.poll() is None, "still running: the DIMSE association is open"

        # ... and so does the association: a C-STORE on it, then a normal release.
        store_ds = ct_dataset(patient_id="SHUTDOWN2")
        store_ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        status = assoc.send_c_store(store_ds)
        assert status.Status == 0x0000
        released_at = time.monotonic()
        assoc.release()

        # 3. The process exits 0, after the association ended and within the grace period.
        code = proc.wait(timeout=DRAIN + TIMEOUT + 5)
        exited_at = time.monotonic()
        assert code == 0, (tmp_path / "serve.log").read_text()[-2000:]
        assert exited_at >= released_at
        assert exited_at - t0 <= DRAIN + TIMEOUT + 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()

    # Both instances were stored for good: a fresh `pacs serve` finds them.
    env["PACS_SHUTDOWN_DRAIN_SECONDS"] = "0"
    proc = subprocess.Popen(
        [*cmd, "--only", "http"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(url, proc)
        for ds in (stow_ds, store_ds):
            r = httpx.get(
                f"{url}/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances",
                headers={"Accept": "application/dicom+json"},
                timeout=10,
            )
            assert r.status_code == 200 and len(r.json()) == 1, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT + 5) == 0


def test_dimse_only_process_lets_the_association_finish(database_url: str, tmp_path: Path) -> None:
    """``pacs serve --only dimse`` (no HTTP side): SIGTERM waits for the open association, then exits 0."""
    dimse_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PACS_")},
        "PACS_DATABASE_URL": database_url,
        "PACS_STORAGE_URL": str(tmp_path / "storage"),
        "PACS_VAR_DIR": str(tmp_path / "var"),
        "PACS_SEED_DEMO": "false",
        "PACS_SHUTDOWN_DRAIN_SECONDS": "1",
        "PACS_SHUTDOWN_TIMEOUT_SECONDS": str(TIMEOUT),
    }
    cmd = [
        str(Path(sys.executable).parent / "pacs"),
        "serve",
        "--only",
        "dimse",
        "--dimse-port",
        str(dimse_port),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ae = AE(ae_title="SHUTDOWN")
        ae.add_requested_context(Verification)
        deadline = time.monotonic() + 60
        assoc = ae.associate("127.0.0.1", dimse_port, ae_title="PACS")
        while not assoc.is_established and time.monotonic() < deadline:
            assert proc.poll() is None, "pacs serve --only dimse exited early"
            time.sleep(0.2)
            assoc = ae.associate("127.0.0.1", dimse_port, ae_title="PACS")
        assert assoc.is_established
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(2.0)  # past the drain: the association is still served
        assert proc.poll() is None
        assert assoc.send_c_echo().Status == 0x0000
        released_at = time.monotonic()
        assoc.release()
        assert proc.wait(timeout=TIMEOUT + 5) == 0
        assert released_at - t0 < time.monotonic() - t0 <= 1 + TIMEOUT + 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
