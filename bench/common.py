"""Shared pieces of the benchmarks: servers, data, statistics and reports.

- :class:`PacsServer` runs ``pacs serve`` as a subprocess on free ports, on a database of the machine's
  PostgreSQL (127.0.0.1:5432, user postgres) and a storage directory of its own.
- :class:`OrthancServer` runs Debian's Orthanc (``/usr/sbin/Orthanc``) with the DICOMweb plugin on loopback,
  HTTP and DICOM on free ports, no authentication, with a config and storage written by the benchmark.
- :func:`ct_slice` builds real-size 512x512 16-bit CT slices; :func:`tiny_study` builds the small one-instance
  studies used to fill both indexes to 100,000 studies (:func:`load_index`).
- :class:`Report` collects figures "PACS vs Orthanc", prints them as a table with their ratio and writes
  ``bench/results/<name>.json``; ``bench/run.py`` prints the summary of every report.

Every benchmark script is also runnable on its own: ``.venv/bin/python bench/bench_dicomweb.py``.
Environment knobs are documented in bench/README.md (BENCH_STUDIES, BENCH_KEEP, ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
VAR_DIR = Path(os.environ.get("BENCH_VAR", str(ROOT / "var" / "bench")))
VENV_BIN = Path(sys.executable).parent
PACS_EXE = str(VENV_BIN / "pacs") if (VENV_BIN / "pacs").exists() else shutil.which("pacs") or "pacs"
ORTHANC_EXE = os.environ.get("BENCH_ORTHANC", "/usr/sbin/Orthanc")
ORTHANC_DICOMWEB = os.environ.get(
    "BENCH_ORTHANC_DICOMWEB", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
)
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
UID_ROOT = "1.2.826.0.1.3680043.8.498.7713"  # under pydicom's root; deterministic bench UIDs below it

STUDIES = int(os.environ.get("BENCH_STUDIES", "100000"))
REBUILD = os.environ.get("BENCH_REBUILD", "") == "1"  # drop the cached 100k indexes and load them again


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None, what: str = "") -> None:
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what or url} exited with code {proc.returncode} while starting")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code < 500:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{what or url} did not answer within {timeout:.0f} s ({last})")


def wait_tcp(port: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def descendants(pid: int) -> list[int]:
    """The child processes of ``pid``, their children, and so on (Linux ``/proc``)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def _stop(proc: subprocess.Popen[bytes], grace: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100), like numpy's default.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> percentile([5.0], 95)
    5.0
    """
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def p50_p95(values: list[float]) -> tuple[float, float]:
    return percentile(values, 50), percentile(values, 95)


def machine_conditions() -> dict[str, Any]:
    """What else was running: load averages, cores, memory, CPU model (the machine is shared)."""
    load1, load5, load15 = os.getloadavg()
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return {
        "time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "mem_gb": round(mem_gb, 1),
        "loadavg": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "python": platform.python_version(),
    }


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots (processes that appeared in between count from zero)."""
    return sum(max(0.0, v - before.get(pid, 0.0)) for pid, v in after.items())


# ---------------------------------------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    metric: str
    unit: str
    pacs: float | None
    orthanc: float | None
    better: str = "higher"  # "higher" or "lower"
    target: float | None = None  # required PACS/Orthanc advantage (e.g. 1.5 = 1.5x better); None: none
    note: str = ""

    @property
    def advantage(self) -> float | None:
        """How many times better PACS is than Orthanc (>1 = PACS better), whatever the direction."""
        if not self.pacs or not self.orthanc:
            return None
        return self.pacs / self.orthanc if self.better == "higher" else self.orthanc / self.pacs

    @property
    def verdict(self) -> str:
        adv = self.advantage
        if self.target is None or adv is None:
            return ""
        return "met" if adv >= self.target else "MISSED"


@dataclass
class Report:
    """Figures of one benchmark, PACS beside Orthanc, with their ratio and the target when there is one."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    conditions: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(
        self,
        section: str,
        metric: str,
        unit: str,
        pacs: float | None,
        orthanc: float | None,
        *,
        better: str = "higher",
        target: float | None = None,
        note: str = "",
    ) -> Row:
        row = Row(section, metric, unit, pacs, orthanc, better, target, note)
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)
        log(f"note: {text}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "conditions": {**self.conditions, "after": machine_conditions()},
            "duration_s": round(time.time() - self.started, 1),
            "notes": self.notes,
            "rows": [
                {
                    "section": r.section,
                    "metric": r.metric,
                    "unit": r.unit,
                    "pacs": r.pacs,
                    "orthanc": r.orthanc,
                    "better": r.better,
                    "advantage": r.advantage,
                    "target": r.target,
                    "verdict": r.verdict,
                    "note": r.note,
                }
                for r in self.rows
            ],
        }

    def save(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        data = self.to_json()
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIR / f"{self.name}.json"
        path.write_text(json.dumps(data, indent=2))
        (RESULTS_DIR / f"{self.name}-{stamp}.json").write_text(json.dumps(data, indent=2))
        print(format_report(data), flush=True)
        return path


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def format_report(data: dict[str, Any]) -> str:
    """A plain-text table: metric, PACS, Orthanc, PACS advantage (x, >1 = PACS better), target, verdict."""
    lines = [f"\n== {data['title']} =="]
    cond = data.get("conditions", {})
    if cond:
        shown = {
            k: v for k, v in cond.items() if k not in ("after", "before") and not isinstance(v, dict | list)
        }
        if shown:
            lines.append("conditions: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        after = cond.get("after") or {}
        if after:
            lines.append(
                f"machine: {after.get('cores')} cores, {after.get('cpu')}, load avg at end {after.get('loadavg')}"
            )
    header = f"{'metric':52} {'unit':9} {'PACS':>10} {'Orthanc':>10} {'PACS adv.':>10}  target"
    section = None
    for r in data["rows"]:
        if r["section"] != section:
            section = r["section"]
            lines.append(f"\n-- {section}")
            lines.append(header)
        adv = r["advantage"]
        adv_s = f"{adv:.2f}x" if adv else "-"
        tgt = f">={r['target']}x {r['verdict']}" if r["target"] else ""
        line = f"{r['metric'][:52]:52} {r['unit']:9} {_fmt(r['pacs']):>10} {_fmt(r['orthanc']):>10} {adv_s:>10}  {tgt}"
        if r.get("note"):
            line += f"  ({r['note']})"
        lines.append(line)
    for n in data.get("notes", []):
        lines.append(f"note: {n}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------

_FAMILY_WORDS = (
    "SMITH JOHNSON WILLIAMS BROWN JONES GARCIA MILLER DAVIS RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ GONZALEZ "
    "WILSON ANDERSON THOMAS TAYLOR MOORE JACKSON MARTIN LEE PEREZ THOMPSON WHITE HARRIS SANCHEZ CLARK "
    "RAMIREZ LEWIS ROBINSON WALKER YOUNG ALLEN KING WRIGHT SCOTT TORRES NGUYEN HILL FLORES GREEN ADAMS "
    "NELSON BAKER HALL RIVERA CAMPBELL MITCHELL CARTER ROBERTS MULLER SCHMIDT SCHNEIDER FISCHER WEBER "
    "MEYER WAGNER BECKER SCHULZ HOFFMANN DUBOIS DURAND LEROY MOREAU SIMON LAURENT LEFEBVRE MICHEL "
    "ROSSI RUSSO FERRARI ESPOSITO BIANCHI ROMANO COLOMBO RICCI MARINO GRECO PETERS JANSEN VISSER SMIT "
    "MEIJER DEBOER MULDER BOS VOS HENDRIKS NIELSEN HANSEN PEDERSEN ANDERSEN LARSEN SORENSEN RASMUSSEN "
    "JOHANSSON KARLSSON NILSSON ERIKSSON LARSSON OLSSON PERSSON SVENSSON GUSTAFSSON PETTERSSON"
)
_GIVEN_WORDS = (
    "JAMES MARY ROBERT PATRICIA MICHAEL JENNIFER WILLIAM LINDA DAVID ELIZABETH RICHARD BARBARA JOSEPH "
    "SUSAN THOMAS JESSICA CHARLES SARAH CHRISTOPHER KAREN DANIEL LISA MATTHEW NANCY ANTHONY BETTY MARK "
    "MARGARET DONALD SANDRA STEVEN ASHLEY PAUL KIMBERLY ANDREW EMILY JOSHUA DONNA KENNETH MICHELLE"
)
FAMILY = _FAMILY_WORDS.split()
GIVEN = _GIVEN_WORDS.split()
MODALITIES = ("CT", "MR", "CR", "US", "DX", "MG", "NM", "PT")
DATE0 = dt.date(2015, 1, 1)
DAYS = 3650  # studies spread over ten years


@dataclass(frozen=True)
class StudyKeys:
    """The deterministic identity and keys of bench study number ``i`` (the same in both servers)."""

    i: int
    study_uid: str
    series_uid: str
    sop_uid: str
    patient_id: str
    patient_name: str
    accession: str
    study_date: str
    modality: str


def patients_for(n_studies: int) -> int:
    return max(1, n_studies * 2 // 5)  # 2.5 studies per patient on average


def study_keys(i: int, n_studies: int = STUDIES) -> StudyKeys:
    """Keys of study ``i`` of an index of ``n_studies`` (PatientID / name derive from the patient number)."""
    pat = (i * 7919) % patients_for(n_studies)
    family = FAMILY[pat % len(FAMILY)]
    given = GIVEN[(pat // len(FAMILY)) % len(GIVEN)]
    day = (i * 104729) % DAYS
    return StudyKeys(
        i=i,
        study_uid=f"{UID_ROOT}.1.{i}",
        series_uid=f"{UID_ROOT}.2.{i}",
        sop_uid=f"{UID_ROOT}.3.{i}",
        patient_id=f"BP{pat:07d}",
        patient_name=f"{family}^{given}",
        accession=f"BA{i:08d}",
        study_date=(DATE0 + dt.timedelta(days=day)).strftime("%Y%m%d"),
        modality=MODALITIES[(i // 3) % len(MODALITIES)],
    )


def ct_base_dataset(rows: int, columns: int) -> Dataset:
    """A CT Image header without UIDs, patient identity or pixel data (the benchmarks fill those in)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.StudyDescription = "BENCH CT"
    ds.ReferringPhysicianName = "BENCH^REFERRER"
    ds.SeriesNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PatientIdentityRemoved = "YES"
    ds.Rows = rows
    ds.Columns = columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1.0
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    return ds


def _to_bytes(ds: Dataset) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


_TINY_PIXELS = (np.arange(64, dtype=np.int16).reshape(8, 8) * 16).tobytes()


def tiny_study(i: int, n_studies: int = STUDIES) -> bytes:
    """Study ``i`` of the 100k index: one 8x8 16-bit CT instance (about 1 kB)."""
    k = study_keys(i, n_studies)
    ds = ct_base_dataset(8, 8)
    ds.file_meta.MediaStorageSOPInstanceUID = k.sop_uid
    ds.SOPInstanceUID = k.sop_uid
    ds.StudyInstanceUID = k.study_uid
    ds.SeriesInstanceUID = k.series_uid
    ds.PatientName = k.patient_name
    ds.PatientID = k.patient_id
    ds.AccessionNumber = k.accession
    ds.StudyDate = k.study_date
    ds.SeriesDate = k.study_date
    ds.Modality = k.modality
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [0, 0, 0]
    ds.PixelData = _TINY_PIXELS
    return _to_bytes(ds)


_CT_PIXELS: dict[int, bytes] = {}


def _ct_pixels(size: int) -> bytes:
    """A 16-bit CT-like phantom (body disc, bone ring, noise): compresses like real CT, not like zeros."""
    if size not in _CT_PIXELS:
        rng = np.random.default_rng(42)
        yy, xx = np.mgrid[:size, :size]
        r2 = (yy - size / 2) ** 2 + (xx - size / 2) ** 2
        img = np.full((size, size), 24, dtype=np.int32)  # air (-1000 HU with intercept -1024)
        img[r2 < (size * 0.42) ** 2] = 1064  # soft tissue (+40 HU)
        ring = (r2 < (size * 0.40) ** 2) & (r2 > (size * 0.36) ** 2)
        img[ring] = 2024  # bone (+1000 HU)
        img += rng.normal(0, 12, (size, size)).astype(np.int32)
        _CT_PIXELS[size] = np.clip(img, -2048, 4095).astype(np.int16).tobytes()
    return _CT_PIXELS[size]


def ct_slice(tag: str, n: int, *, per_study: int = 100, size: int = 512) -> bytes:
    """Real-size CT slice ``n`` of run ``tag``: 512x512 16-bit (about 513 kB), ``per_study`` slices a study.

    ``tag`` makes the UIDs unique per run and server, so every measured store is a new instance.
    """
    study = n // per_study
    ds = ct_base_dataset(size, size)
    sop = f"{UID_ROOT}.9.{tag}.{n}"
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = f"{UID_ROOT}.7.{tag}.{study}"
    ds.SeriesInstanceUID = f"{UID_ROOT}.8.{tag}.{study}"
    ds.PatientName = "BENCH^CT"
    ds.PatientID = f"BCT{tag}{study}"[:64]
    ds.AccessionNumber = f"BCT{study}"
    ds.StudyDate = "20240101"
    ds.Modality = "CT"
    ds.InstanceNumber = n % per_study + 1
    ds.ImagePositionPatient = [0, 0, float(n % per_study)]
    ds.PixelData = _ct_pixels(size)
    return _to_bytes(ds)


def run_tag() -> str:
    """A short numeric tag unique to this run (UID components must be digits)."""
    return str(int(time.time() * 1000) % 10**12)


def multipart_body(parts: list[bytes], boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart/related STOW-RS body and its Content-Type."""
    boundary = boundary or f"bench{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for p in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        chunks.append(p)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/related; type="application/dicom"; boundary={boundary}'


# ---------------------------------------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------------------------------------


def _admin_engine() -> Any:
    from sqlalchemy import create_engine

    return create_engine(
        ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )


def db_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def database_exists(name: str) -> bool:
    eng = _admin_engine()
    try:
        with eng.connect() as conn:
            return bool(
                conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).scalar()
            )
    finally:
        eng.dispose()


def create_database(name: str) -> None:
    eng = _admin_engine()
    try:
        with eng.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        eng.dispose()


def drop_database(name: str) -> None:
    eng = _admin_engine()
    try:
        with eng.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        eng.dispose()


def count_studies_sql(name: str) -> int:
    """Studies in a PACS bench database (harness bookkeeping only; the servers are measured over HTTP)."""
    from sqlalchemy import create_engine

    eng = create_engine(db_url(name).replace("postgresql://", "postgresql+psycopg://"))
    try:
        with eng.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM studies").scalar() or 0)
    finally:
        eng.dispose()


def vacuum_analyze(name: str) -> None:
    """VACUUM ANALYZE a bench database (planner statistics and visibility map after a bulk load)."""
    from sqlalchemy import create_engine

    eng = create_engine(
        db_url(name).replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    try:
        with eng.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        eng.dispose()


class PacsServer:
    """``pacs serve`` in a subprocess on free ports (HTTP and DIMSE), on database ``db`` and ``storage``.

    ``fresh=True`` drops and recreates the database and storage first; otherwise both are reused (cache).
    """

    name = "PACS"

    def __init__(
        self,
        db: str,
        storage: Path,
        *,
        fresh: bool = False,
        drop_on_stop: bool = False,
        extra_env: dict[str, str] | None = None,
        ae_title: str = "PACS",
    ) -> None:
        self.db = db
        self.storage = storage
        self.fresh = fresh
        self.drop_on_stop = drop_on_stop
        self.extra_env = extra_env or {}
        self.http_port = free_port()
        self.dimse_port = free_port()
        self.ae_title = ae_title
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = storage.parent / f"{storage.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PACS_")}
        env.update(
            {
                "PACS_DATABASE_URL": db_url(self.db),
                "PACS_MIGRATE_DATABASE_URL": db_url(self.db),
                "PACS_STORAGE_URL": str(self.storage),
                "PACS_VAR_DIR": str(self.storage.parent),
                "PACS_HTTP_HOST": "127.0.0.1",
                "PACS_HTTP_PORT": str(self.http_port),
                "PACS_DIMSE_PORT": str(self.dimse_port),
                "PACS_AE_TITLE": self.ae_title,
                "PACS_SEED_DEMO": "false",
                "PACS_LOG_LEVEL": os.environ.get("BENCH_PACS_LOG_LEVEL", "WARNING"),
                "PACS_MAX_REQUEST_BYTES": str(4 * 1024**3),
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> PacsServer:
        if self.fresh:
            drop_database(self.db)
            shutil.rmtree(self.storage, ignore_errors=True)
        if not database_exists(self.db):
            create_database(self.db)
        self.storage.mkdir(parents=True, exist_ok=True)
        env = self.env()
        subprocess.run([PACS_EXE, "migrate"], env=env, check=True, capture_output=True, cwd=ROOT)
        logf = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [PACS_EXE, "serve", "--host", "127.0.0.1", "--port", str(self.http_port)],
            env=env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        wait_http(f"{self.url}/readyz", 60, self.proc, "pacs serve")
        log(f"PACS up: {self.url} (db {self.db}, storage {self.storage}, pid {self.proc.pid})")
        return self

    def has_dimse(self, timeout: float = 5) -> bool:
        """Whether this ``pacs serve`` also runs the DIMSE SCP (issue 3) on ``dimse_port``."""
        try:
            wait_tcp(self.dimse_port, timeout)
            return True
        except RuntimeError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None
        if self.drop_on_stop:
            drop_database(self.db)
            shutil.rmtree(self.storage, ignore_errors=True)

    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def count_studies(self) -> int:
        return count_studies_sql(self.db)

    def backend_pids(self) -> list[int]:
        """PostgreSQL backends serving this server's database (its connection pool)."""
        eng = _admin_engine()
        try:
            with eng.connect() as conn:
                rows = conn.exec_driver_sql(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.db,),
                )
                return [int(r[0]) for r in rows]
        finally:
            eng.dispose()

    def server_pids(self) -> list[int]:
        """``pacs serve`` and its HTTP worker processes (``PACS_HTTP_WORKERS``)."""
        return [self.proc.pid, *descendants(self.proc.pid)] if self.proc else []

    def cpu_snapshot(self) -> dict[int, float]:
        """CPU seconds of the ``pacs serve`` processes and of the PostgreSQL backends of its database."""
        pids = self.server_pids() + self.backend_pids()
        return {pid: proc_cpu_seconds(pid) for pid in pids}

    def __enter__(self) -> PacsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class OrthancServer:
    """Debian's Orthanc with the DICOMweb plugin, HTTP and DICOM on loopback, no authentication.

    The storage and SQLite index live in ``workdir`` (reused when present: the 100k cache). Everything else is
    Orthanc's default (SQLite index, storage fsync on, no compression), so stores are as durable as PACS's.
    """

    name = "Orthanc"

    def __init__(
        self, workdir: Path, *, fresh: bool = False, aet: str = "ORTHANC", scu_aet: str = "BENCHSCU"
    ):
        self.workdir = workdir
        self.fresh = fresh
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.aet = aet
        self.scu_aet = scu_aet
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def config(self) -> dict[str, Any]:
        return {
            "Name": "bench-orthanc",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "index"),
            "StorageCompression": False,
            "HttpPort": self.http_port,
            "HttpServerEnabled": True,
            "RemoteAccessAllowed": True,
            "AuthenticationEnabled": False,
            "SslEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": False,
            "DicomCheckModalityHost": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomModalities": {"bench": [self.scu_aet, "127.0.0.1", 104]},
            "UnknownSopClassAccepted": True,
            "SaveJobs": False,
            "LimitFindResults": 0,
            "LimitFindInstances": 0,
            "StableAge": 3600,
            "Plugins": [ORTHANC_DICOMWEB],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "Ssl": False},
        }

    def start(self) -> OrthancServer:
        if self.fresh:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "orthanc.json"
        cfg.write_text(json.dumps(self.config(), indent=2))
        logf = open(self.workdir / "orthanc.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [ORTHANC_EXE, str(cfg)], stdout=logf, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        wait_http(f"{self.url}/system", 300, self.proc, "Orthanc")
        r = httpx.get(f"{self.url}/plugins", timeout=10)
        if "dicom-web" not in r.text:
            raise RuntimeError(f"Orthanc started without the DICOMweb plugin ({r.text}); check {cfg}")
        wait_tcp(self.dicom_port, 30)
        log(f"Orthanc up: {self.url}, DICOM {self.aet}@127.0.0.1:{self.dicom_port} (pid {self.proc.pid})")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, grace=60)
            self.proc = None

    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def server_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def count_studies(self) -> int:
        return int(httpx.get(f"{self.url}/statistics", timeout=60).json()["CountStudies"])

    def cpu_snapshot(self) -> dict[int, float]:
        """CPU seconds of the Orthanc process (its SQLite index runs inside it)."""
        return {self.proc.pid: proc_cpu_seconds(self.proc.pid)} if self.proc else {}

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------------------
# the 100k index, loaded once and cached under var/bench/
# ---------------------------------------------------------------------------------------------------------


def pacs_index_server(n: int = STUDIES) -> PacsServer:
    """The cached PACS index of ``n`` bench studies (database ``pacs_bench_<n>``, files under var/bench/)."""
    return PacsServer(f"pacs_bench_{n}", VAR_DIR / f"pacs-{n}" / "storage", fresh=REBUILD)


def orthanc_index_server(n: int = STUDIES) -> OrthancServer:
    return OrthancServer(VAR_DIR / f"orthanc-{n}", fresh=REBUILD)


def orthanc_study_id(k: StudyKeys) -> str:
    """Orthanc's identifier of a study: SHA-1 of ``PatientID|StudyInstanceUID`` in five dashed groups."""
    h = hashlib.sha1(f"{k.patient_id}|{k.study_uid}".encode()).hexdigest()
    return "-".join(h[i : i + 8] for i in range(0, 40, 8))


def missing_studies(server: PacsServer | OrthancServer, n: int) -> list[int]:
    """Numbers of the bench studies (0..n-1) the server does not hold (a load interrupted anywhere resumes)."""
    if isinstance(server, PacsServer):
        from sqlalchemy import create_engine

        eng = create_engine(db_url(server.db).replace("postgresql://", "postgresql+psycopg://"))
        try:
            with eng.connect() as conn:
                held = {r[0] for r in conn.exec_driver_sql("SELECT study_instance_uid FROM studies")}
        finally:
            eng.dispose()
        return [i for i in range(n) if study_keys(i, n).study_uid not in held]
    ids = set(httpx.get(f"{server.url}/studies", timeout=300).json())
    return [i for i in range(n) if orthanc_study_id(study_keys(i, n)) not in ids]


def load_index(
    server: PacsServer | OrthancServer,
    n: int = STUDIES,
    *,
    clients: int = 4,
    batch: int = 100,
    progress_every: float = 30,
) -> dict[str, Any]:
    """Fill ``server`` up to ``n`` bench studies (resumable: stores are idempotent in both servers).

    PACS: STOW-RS with ``batch`` instances per request. Orthanc: REST ``POST /instances`` (one instance per
    request, its fastest sound ingest path), ``clients`` parallel clients for both.
    """
    have = server.count_studies()
    if have >= n:
        return {"loaded": 0, "have": have, "seconds": 0.0}
    todo = missing_studies(server, n)
    log(f"loading {server.name}: {len(todo):,} missing studies ({have:,} present) with {clients} clients")
    t0 = time.time()
    done = [0]
    errors: list[str] = []
    lock = threading.Lock()
    is_pacs = isinstance(server, PacsServer)

    def work(rng: list[int]) -> None:
        with httpx.Client(timeout=600) as client:
            if is_pacs:
                body, ctype = multipart_body([tiny_study(i, n) for i in rng])
                r = client.post(f"{server.dicomweb}/studies", content=body, headers={"Content-Type": ctype})
                ok = r.status_code == 200
            else:
                ok = True
                for i in rng:
                    r = client.post(
                        f"{server.url}/instances",
                        content=tiny_study(i, n),
                        headers={"Content-Type": "application/dicom"},
                    )
                    ok = ok and r.status_code == 200
            with lock:
                done[0] += len(rng)
                if not ok:
                    errors.append(f"{rng}: HTTP {r.status_code} {r.text[:200]}")

    ranges = iter([todo[j : j + batch] for j in range(0, len(todo), batch)])
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            with lock:
                rng = next(ranges, None)
            if rng is None:
                return
            try:
                work(rng)
            except Exception as exc:
                with lock:
                    errors.append(f"{rng}: {exc}")
                stop.set()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=progress_every / len(threads))
            rate = done[0] / max(1e-9, time.time() - t0)
            log(f"  {server.name}: {have + done[0]:,}/{n:,} studies, {rate:,.0f}/s")
    finally:
        stop.set()
    secs = time.time() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} load batches failed on {server.name}; first: {errors[0]}")
    have = server.count_studies()
    log(f"{server.name} holds {have:,} studies (loaded {len(todo):,} in {secs:.0f} s)")
    if is_pacs:
        vacuum_analyze(server.db)  # what autovacuum does after a bulk load, done now so runs are repeatable
    if have < n:
        raise RuntimeError(f"{server.name} holds {have} studies after loading, expected {n}")
    return {"loaded": len(todo), "have": have, "seconds": round(secs, 1)}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out
