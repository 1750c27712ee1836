"""The preemption drill: real processes on loopback, a mixed load, one replica killed and one stopped.

    make drill                       # 60 s of load (DRILL_SECONDS=N to change)
    .venv/bin/python deploy/drill/drill.py --seconds 25

What runs (all on 127.0.0.1, free ports, everything under one temp dir that is removed at the end):
- a fresh PostgreSQL database on the machine's server (PACS_DRILL_ADMIN_URL, default
  postgresql://postgres@127.0.0.1:5432/postgres), migrated by ``pacs migrate``, dropped at the end;
- pgbouncer in transaction mode in front of it (as the ``postgres`` user when run as root);
- two API replicas, ``pacs serve --only http``, sharing that database (through pgbouncer) and one storage dir;
- HAProxy in front of the replicas: health checks on /readyz, retries on another replica (see haproxy.cfg.tmpl).

The load (worker threads, for a fixed time): STOW-RS of fresh synthetic instances (one per request), QIDO-RS
study searches, the portal's study list (/api/studies; QIDO-RS if that route does not exist) and WADO-RS
retrieves of instances stored earlier, checked byte for byte. The client does not retry: what HAProxy answers
is what counts.

Chaos: at 20 % of the time replica A is killed with SIGKILL (a spot VM vanishing) and restarted 2 s later; at
55 % replica B gets SIGTERM (a preemption notice or a rolling update), must exit by itself within its grace
period, and is restarted.

Then every instance whose STOW-RS was acknowledged (200) is retrieved with WADO-RS (transfer-syntax=*, as
stored) and compared with the bytes sent. The last line is ``drill: sent=N failed=F lost=L``; the exit status
is 0 only when F and L are both 0.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from string import Template

import httpx
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV_BIN = Path(sys.executable).parent
PACS = str(VENV_BIN / "pacs")
ADMIN_URL = os.environ.get("PACS_DRILL_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
GRACE_SECONDS = 30.0  # Kubernetes terminationGracePeriodSeconds
DRAIN_SECONDS = 3.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"process exited with {proc.returncode} before opening port {port}"
                ) from None
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


# -- synthetic instances ------------------------------------------------------------------------------------
def make_instance(study: str, series: str, n: int, rng: random.Random) -> bytes:
    """A small, valid CT instance (Part 10, Explicit VR Little Endian), synthetic patient."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientName = f"DRILL^Patient{rng.randint(1, 50)}"
    ds.PatientID = f"DRILL{rng.randint(1, 50):04d}"
    ds.PatientIdentityRemoved = "YES"
    ds.AccessionNumber = f"DR{rng.randint(1, 10**6):07d}"
    ds.StudyDate = f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    ds.StudyTime = "101500"
    ds.StudyDescription = "DRILL CT"
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = n
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = (
        np.random.default_rng(rng.randint(0, 2**31)).integers(0, 1000, (32, 32), np.int16).tobytes()
    )
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(
        b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
        for p in parts
    )
    body += b"--" + boundary.encode() + b"--\r\n"
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def multipart_parts(content_type: str, body: bytes) -> list[bytes]:
    """The bodies of a multipart/related response (PS3.18 8.6.1.2)."""
    boundary = ""
    for param in content_type.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise ValueError(f"no boundary in {content_type!r}")
    delim = b"--" + boundary.encode()
    parts = []
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        _headers, _, content = chunk.partition(b"\r\n\r\n")
        parts.append(content[:-2] if content.endswith(b"\r\n") else content)
    return parts


# -- processes ----------------------------------------------------------------------------------------------
@dataclass
class Replica:
    name: str
    port: int
    env: dict[str, str]
    logfile: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        t0 = time.monotonic()
        with self.logfile.open("ab") as out:
            self.proc = subprocess.Popen(
                [PACS, "serve", "--only", "http", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self.wait_ready()
        return time.monotonic() - t0

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited ({self.proc.returncode}); see {self.logfile}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"replica {self.name} not ready after {timeout} s; see {self.logfile}")

    def processes(self) -> list[int]:
        """``pacs serve`` and its HTTP worker processes (PACS_HTTP_WORKERS): what runs on the replica's VM."""
        if self.proc is None:
            return []
        pids, todo = [self.proc.pid], [self.proc.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                        kids = [int(k) for k in f.read().split()]
                        pids.extend(kids)
                        todo.extend(kids)
        return pids

    def kill(self) -> None:
        """SIGKILL every process of the replica at once (a spot VM vanishing takes them all)."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Stats:
    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    acked: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, op: str, ok: bool, why: str = "") -> None:
        with self.lock:
            self.sent[op] += 1
            if not ok:
                self.failed[op] += 1
                if len(self.errors) < 20:
                    self.errors.append(f"{time.strftime('%H:%M:%S')} {op}: {why}")


class Load:
    """Worker threads sending a mixed load through the load balancer until told to stop."""

    def __init__(self, base: str, workers: int, study_list: bool) -> None:
        self.base = base
        self.workers = workers
        self.study_list = study_list
        self.stats = Stats()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(workers)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def _run(self, worker: int) -> None:
        rng = random.Random(worker)
        study, series, n = generate_uid(), generate_uid(), 0
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self.stop.is_set():
                r = rng.random()
                try:
                    if r < 0.35 or not self.stats.acked:
                        n += 1
                        if n % 20 == 0:
                            study, series = generate_uid(), generate_uid()
                        self._stow(client, rng, study, series, n)
                    elif r < 0.55:
                        self._qido(client, rng)
                    elif r < 0.70:
                        self._study_list(client, rng)
                    else:
                        self._wado(client, rng)
                except httpx.HTTPError as exc:
                    self.stats.record("error", False, f"{type(exc).__name__}: {exc}")

    def _stow(self, client: httpx.Client, rng: random.Random, study: str, series: str, n: int) -> None:
        data = make_instance(study, series, n, rng)
        body, ctype = multipart([data])
        try:
            resp = client.post(
                "/dicom-web/studies",
                content=body,
                headers={"Content-Type": ctype, "Accept": "application/dicom+json"},
            )
        except httpx.HTTPError as exc:
            self.stats.record("stow", False, f"{type(exc).__name__}: {exc}")
            return
        ok = resp.status_code == 200 and "00081198" not in resp.json()
        self.stats.record("stow", ok, f"HTTP {resp.status_code} {resp.text[:200]}")
        if ok:
            sop = _sop_uid(data)
            with self.stats.lock:
                self.stats.acked.append((study, series, sop, data))

    def _qido(self, client: httpx.Client, rng: random.Random) -> None:
        params = rng.choice(
            [
                {"PatientName": f"DRILL^Patient{rng.randint(1, 50)}*", "limit": "20"},
                {"PatientID": f"DRILL{rng.randint(1, 50):04d}"},
                {"StudyDate": "20260101-20261231", "limit": "50", "includefield": "ModalitiesInStudy"},
            ]
        )
        try:
            resp = client.get(
                "/dicom-web/studies", params=params, headers={"Accept": "application/dicom+json"}
            )
        except httpx.HTTPError as exc:
            self.stats.record("qido", False, f"{type(exc).__name__}: {exc}")
            return
        ok = resp.status_code in (200, 204) and (resp.status_code == 204 or isinstance(resp.json(), list))
        self.stats.record("qido", ok, f"HTTP {resp.status_code} {resp.text[:200]}")

    def _study_list(self, client: httpx.Client, rng: random.Random) -> None:
        if not self.study_list:
            self._qido(client, rng)
            return
        params = rng.choice([{"limit": "25"}, {"mrn": f"DRILL{rng.randint(1, 50):04d}"}, {"modality": "CT"}])
        try:
            resp = client.get("/api/studies", params=params)
        except httpx.HTTPError as exc:
            self.stats.record("studylist", False, f"{type(exc).__name__}: {exc}")
            return
        self.stats.record("studylist", resp.status_code == 200, f"HTTP {resp.status_code} {resp.text[:200]}")

    def _wado(self, client: httpx.Client, rng: random.Random) -> None:
        with self.stats.lock:
            study, series, sop, data = rng.choice(self.stats.acked)
        try:
            resp = client.get(
                f"/dicom-web/studies/{study}/series/{series}/instances/{sop}", headers={"Accept": WADO_ACCEPT}
            )
        except httpx.HTTPError as exc:
            self.stats.record("wado", False, f"{type(exc).__name__}: {exc}")
            return
        if resp.status_code != 200:
            self.stats.record("wado", False, f"HTTP {resp.status_code} {resp.text[:200]}")
            return
        parts = multipart_parts(resp.headers.get("content-type", ""), resp.content)
        self.stats.record("wado", parts == [data], f"{sop}: bytes differ from what was stored")


def _sop_uid(data: bytes) -> str:
    import pydicom

    return str(pydicom.dcmread(BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


def haproxy_stats(sock_path: Path) -> dict[str, dict[str, str]]:
    """``show stat`` from HAProxy's admin socket: per server, retries (wretr) and redispatches (wredis)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(str(sock_path))
        s.sendall(b"show stat\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    lines = raw.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        if line.strip():
            row = dict(zip(header, line.split(","), strict=False))
            out[f"{row['pxname']}/{row['svname']}"] = row
    return out


# -- the drill ------------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("DRILL_SECONDS", 60)))
    ap.add_argument("--workers", type=int, default=int(os.environ.get("DRILL_WORKERS", 6)))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs) at the end")
    args = ap.parse_args()
    if args.seconds < 10:
        ap.error("--seconds must be at least 10")
    for exe in ("haproxy", "pgbouncer"):
        if not (shutil.which(exe) or Path(f"/usr/sbin/{exe}").exists()):
            print(f"{exe} is not installed: run `make system-deps` (apt-get install {exe})", file=sys.stderr)
            return 2

    tmp = Path(tempfile.mkdtemp(prefix="pacs-drill-"))
    tmp.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []
    replicas: list[Replica] = []
    admin = create_engine(
        make_url(ADMIN_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    dbname = f"pacs_drill_{uuid.uuid4().hex[:8]}"
    created = False
    sent = failed = lost = 0
    ok = False
    try:
        # 1. a fresh database, migrated by the real CLI
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{dbname}"')
        created = True
        admin_u = make_url(ADMIN_URL)
        direct = admin_u.set(database=dbname).render_as_string(hide_password=False)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PACS_")},
            "PACS_DATABASE_URL": direct,
            "PACS_MIGRATE_DATABASE_URL": direct,
            "PACS_STORAGE_URL": str(tmp / "storage"),
            "PACS_VAR_DIR": str(tmp / "var"),
            "PACS_SEED_DEMO": "false",
            "PACS_LOG_LEVEL": "WARNING",
            "PYTHONFAULTHANDLER": "1",
            "PACS_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "PACS_SHUTDOWN_TIMEOUT_SECONDS": "20",
            "PACS_DB_POOL_SIZE": "5",
            "PACS_DB_MAX_OVERFLOW": "5",
        }
        subprocess.run([PACS, "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
        log(f"database {dbname} migrated; temp dir {tmp}")

        # 2. pgbouncer, transaction mode
        pgb_port = free_port()
        pgb_dir = tmp / "pgbouncer"
        pgb_dir.mkdir()
        ini = pgb_dir / "pgbouncer.ini"
        ini.write_text(
            f"""[databases]
{dbname} = host={admin_u.host or "127.0.0.1"} port={admin_u.port or 5432} dbname={dbname} user={admin_u.username}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {pgb_port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 20
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits,options,statement_timeout,application_name
logfile = {pgb_dir}/pgbouncer.log
pidfile = {pgb_dir}/pgbouncer.pid
"""
        )
        exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        cmd = [exe, str(ini)]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            shutil.chown(pgb_dir, "postgres", "postgres")
            shutil.chown(ini, "postgres", "postgres")
            cmd = [exe, "-u", "postgres", str(ini)]
        pgb = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(pgb)
        wait_port(pgb_port, pgb)
        env["PACS_DATABASE_URL"] = admin_u.set(
            host="127.0.0.1", port=pgb_port, database=dbname
        ).render_as_string(hide_password=False)
        log(f"pgbouncer (transaction mode) on :{pgb_port}")

        # 3. two API replicas
        for name in ("a", "b"):
            replicas.append(Replica(name, free_port(), env, tmp / f"replica-{name}.log"))
        for r in replicas:
            took = r.start()
            log(f"replica {r.name} ready on :{r.port} in {took:.1f} s")

        # 4. HAProxy
        lb_port = free_port()
        stats_sock = tmp / "haproxy.sock"
        cfg = tmp / "haproxy.cfg"
        cfg.write_text(
            Template((HERE / "haproxy.cfg.tmpl").read_text()).substitute(
                lb_port=lb_port,
                port_a=replicas[0].port,
                port_b=replicas[1].port,
                stats_socket=stats_sock,
                pidfile=tmp / "haproxy.pid",
            )
        )
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy config invalid: {check.stdout}{check.stderr}")
        with (tmp / "haproxy.log").open("ab") as out:
            lb = subprocess.Popen([haproxy, "-db", "-f", str(cfg)], stdout=out, stderr=subprocess.STDOUT)
        procs.append(lb)
        wait_port(lb_port, lb)
        base = f"http://127.0.0.1:{lb_port}"
        deadline = time.monotonic() + 10
        while httpx.get(f"{base}/readyz", timeout=2).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("HAProxy does not reach a ready replica")
            time.sleep(0.1)
        # The portal's study list, where this version has it (404 otherwise; QIDO-RS stands in).
        study_list = httpx.get(f"{base}/api/studies", params={"limit": 1}, timeout=60).status_code != 404
        log(
            f"HAProxy on :{lb_port}; study list endpoint {'/api/studies' if study_list else 'absent: QIDO-RS'}"
        )

        # 5. load + chaos
        load = Load(base, args.workers, study_list)
        t0 = time.monotonic()
        load.start()
        log(f"load started: {args.workers} workers for {args.seconds:.0f} s")

        def at(frac: float) -> None:
            time.sleep(max(0.0, t0 + frac * args.seconds - time.monotonic()))

        at(0.20)
        a = replicas[0]
        assert a.proc is not None
        a.kill()
        log("SIGKILL replica a, every process of it (spot VM gone)")
        time.sleep(2.0)
        took = a.start()
        log(f"replica a restarted, ready in {took:.1f} s")

        at(0.55)
        b = replicas[1]
        assert b.proc is not None
        ts = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)
        log(f"SIGTERM replica b (preemption notice; drain {DRAIN_SECONDS:.0f} s)")
        try:
            code = b.proc.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            # PYTHONFAULTHANDLER is on: SIGABRT writes every thread's stack to the replica's log.
            b.proc.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                b.proc.wait(5)
            b.stop()
            tail = b.logfile.read_text(errors="replace").splitlines()[-60:]
            raise RuntimeError(
                f"replica b did not exit within {GRACE_SECONDS:.0f} s of SIGTERM; its log ends:\n"
                + "\n".join(tail)
            ) from None
        log(f"replica b exited with status {code} {time.monotonic() - ts:.1f} s after SIGTERM")
        if code != 0:
            raise RuntimeError(f"replica b exited with status {code} after SIGTERM; see {b.logfile}")
        took = b.start()
        log(f"replica b restarted, ready in {took:.1f} s")

        at(1.0)
        load.join()
        elapsed = time.monotonic() - t0
        st = load.stats
        sent, failed = sum(st.sent.values()), sum(st.failed.values())
        log(f"load stopped after {elapsed:.1f} s: {sent} requests ({sent / elapsed:.0f}/s)")
        for op in sorted(st.sent):
            log(f"  {op:<10} sent={st.sent[op]:<6} failed={st.failed[op]}")
        for err in st.errors:
            log(f"  error: {err}")
        with contextlib.suppress(OSError, KeyError, IndexError):
            hs = haproxy_stats(stats_sock)
            for key in ("api/a", "api/b", "api/BACKEND"):
                row = hs[key]
                log(
                    f"  haproxy {key:<12} requests={row.get('stot')} retries={row.get('wretr')} "
                    f"redispatches={row.get('wredis')} 5xx={row.get('hrsp_5xx')} downs={row.get('chkdown', '-')}"
                )

        # 6. every acknowledged instance, retrieved byte-identical
        missing: list[str] = []
        with httpx.Client(base_url=base, timeout=60) as client:
            for study, series, sop, data in st.acked:
                resp = client.get(
                    f"/dicom-web/studies/{study}/series/{series}/instances/{sop}",
                    headers={"Accept": WADO_ACCEPT},
                )
                parts = (
                    multipart_parts(resp.headers.get("content-type", ""), resp.content)
                    if resp.status_code == 200
                    else []
                )
                if parts != [data]:
                    missing.append(f"{sop} (HTTP {resp.status_code})")
        lost = len(missing)
        digest = hashlib.sha256(b"".join(d for *_, d in st.acked)).hexdigest()[:12]
        log(
            f"verified {len(st.acked)} acknowledged instances by WADO-RS: {len(st.acked) - lost} byte-identical, "
            f"{lost} lost (sha256 of all sent bytes {digest})"
        )
        for m in missing[:10]:
            log(f"  lost: {m}")
        ok = failed == 0 and lost == 0
    finally:
        for r in replicas:
            r.stop()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if created:
            with admin.connect() as conn:
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()"
                )
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{dbname}"')
        admin.dispose()
        if args.keep or not ok:
            log(f"kept {tmp} (logs of the replicas, pgbouncer and HAProxy)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"drill: sent={sent} failed={failed} lost={lost}", flush=True)
    return 0 if failed == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
