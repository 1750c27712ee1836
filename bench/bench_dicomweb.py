"""DICOMweb benchmark (issue 2): STOW-RS ingest and QIDO-RS latency, PACS Portal beside Orthanc, same run.

1. STOW-RS ingest of real-size CT (512x512, 16-bit, about 513 kB a slice) into two fresh, empty servers:
   instances/s and MB/s for 1 and 4 parallel clients x 1 and 10 instances per request. Every configuration
   runs BENCH_ROUNDS times, alternating which server goes first; the median round is reported.
2. QIDO-RS study search on an index of BENCH_STUDIES (default 100,000) studies in each server: p50/p95 of
   PatientID, AccessionNumber, PatientName wildcard, StudyDate range + ModalitiesInStudy, and the unfiltered
   list at offset 0 vs a deep offset. One sequential client; PACS and Orthanc are asked the same query,
   alternately. The result counts of both servers are compared for every query (a sanity check).

The 100k indexes are loaded once and cached under var/bench/ (see bench/README.md).

Run alone: ``.venv/bin/python bench/bench_dicomweb.py`` (BENCH_SKIP_STOW=1 / BENCH_SKIP_QIDO=1 to run one half).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    FAMILY,
    STUDIES,
    VAR_DIR,
    OrthancServer,
    PacsServer,
    Report,
    cpu_delta,
    ct_slice,
    env_int,
    load_index,
    log,
    machine_conditions,
    multipart_body,
    orthanc_index_server,
    p50_p95,
    pacs_index_server,
    run_tag,
    study_keys,
)

ROUNDS = env_int("BENCH_ROUNDS", 3)
STOW_INSTANCES = env_int("BENCH_STOW_INSTANCES", 200)  # per configuration, per round, per server
QIDO_SAMPLES = env_int("BENCH_QIDO_SAMPLES", 60)
QIDO_WARMUP = env_int("BENCH_QIDO_WARMUP", 5)
QIDO_LIMIT = 100
QIDO_BUDGET = env_int("BENCH_QIDO_BUDGET", 150)  # seconds per query kind; at least 10 samples are taken
MB = 1_000_000

Server = PacsServer | OrthancServer


# ---------------------------------------------------------------------------------------------------------
# STOW-RS
# ---------------------------------------------------------------------------------------------------------


def stow_run(server: Server, bodies: list[tuple[bytes, str, int, int]], clients: int) -> dict[str, Any]:
    """POST every prepared body with ``clients`` parallel clients; wall time from first send to last answer."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        with httpx.Client(timeout=600) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    body, ctype, _, _ = queue.pop()
                r = client.post(f"{server.dicomweb}/studies", content=body, headers={"Content-Type": ctype})
                if r.status_code != 200:
                    with lock:
                        failures.append(f"HTTP {r.status_code}: {r.text[:300]}")

    cpu0 = server.cpu_snapshot()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(worker) for _ in range(clients)]:
            f.result()
    secs = time.perf_counter() - t0
    cpu1 = server.cpu_snapshot()
    cpu = cpu_delta(cpu0, cpu1)
    own = set(server.server_pids())
    db_cpu = cpu_delta(
        {k: v for k, v in cpu0.items() if k not in own}, {k: v for k, v in cpu1.items() if k not in own}
    )
    n = sum(b[2] for b in bodies)
    payload = sum(b[3] for b in bodies)
    if failures:
        raise RuntimeError(f"{server.name} STOW-RS failed {len(failures)} times; first: {failures[0]}")
    return {
        "seconds": secs,
        "instances": n,
        "inst_s": n / secs,
        "mb_s": payload / MB / secs,
        "cpu_ms": cpu * 1e3 / n,
        "db_cpu_ms": db_cpu * 1e3 / n,
    }


def prepare_bodies(tag: str, total: int, per_request: int) -> list[tuple[bytes, str, int, int]]:
    out = []
    for start in range(0, total, per_request):
        parts = [ct_slice(tag, n) for n in range(start, min(start + per_request, total))]
        body, ctype = multipart_body(parts)
        out.append((body, ctype, len(parts), sum(len(p) for p in parts)))
    return out


def bench_stow(report: Report) -> None:
    keep = os.environ.get("BENCH_KEEP", "") == "1"
    pacs = PacsServer(
        "pacs_bench_ingest", VAR_DIR / "ingest-pacs" / "storage", fresh=True, drop_on_stop=not keep
    )
    orthanc = OrthancServer(VAR_DIR / "ingest-orthanc", fresh=True)
    slice_bytes = len(ct_slice("0", 0))
    report.conditions["stow_slice_bytes"] = slice_bytes
    report.conditions["stow_instances_per_run"] = STOW_INSTANCES
    report.conditions["stow_rounds"] = ROUNDS
    try:
        pacs.start()
        orthanc.start()
        # warm-up: connection pools, code paths, first files (not measured)
        for srv in (pacs, orthanc):
            stow_run(srv, prepare_bodies(f"{run_tag()}{len(srv.name)}", 4, 2), 2)
        results: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        for rnd in range(ROUNDS):
            for clients in (1, 4):
                for per_request in (1, 10):
                    order: list[Server] = (
                        [pacs, orthanc] if (rnd + clients + per_request) % 2 else [orthanc, pacs]
                    )
                    for srv in order:
                        bodies = prepare_bodies(
                            f"{run_tag()}{rnd}{clients}{per_request}", STOW_INSTANCES, per_request
                        )
                        res = stow_run(srv, bodies, clients)
                        results.setdefault((srv.name, clients, per_request), []).append(res)
                        log(
                            f"STOW round {rnd + 1}/{ROUNDS} {srv.name:7} clients={clients} per_request="
                            f"{per_request}: {res['inst_s']:.1f} inst/s, {res['mb_s']:.1f} MB/s, "
                            f"server CPU {res['cpu_ms']:.1f} ms/instance (database {res['db_cpu_ms']:.1f})"
                        )
        for clients in (1, 4):
            for per_request in (1, 10):
                med: dict[str, dict[str, float]] = {}
                for name in ("PACS", "Orthanc"):
                    runs = results[(name, clients, per_request)]
                    med[name] = {
                        k: statistics.median(r[k] for r in runs) for k in ("inst_s", "mb_s", "cpu_ms")
                    }
                label = f"{clients} client{'s' if clients > 1 else ''} x {per_request}/request"
                report.add(
                    "STOW-RS ingest, 512x512 16-bit CT",
                    f"{label}: instances/s",
                    "inst/s",
                    med["PACS"]["inst_s"],
                    med["Orthanc"]["inst_s"],
                    target=1.5,
                )
                report.add(
                    "STOW-RS ingest, 512x512 16-bit CT",
                    f"{label}: MB/s",
                    "MB/s",
                    med["PACS"]["mb_s"],
                    med["Orthanc"]["mb_s"],
                    target=1.5,
                )
                report.add(
                    "STOW-RS ingest, 512x512 16-bit CT",
                    f"{label}: server CPU per instance",
                    "ms",
                    med["PACS"]["cpu_ms"],
                    med["Orthanc"]["cpu_ms"],
                    better="lower",
                )
        report.conditions["stow_raw"] = {f"{k[0]} c{k[1]} r{k[2]}": v for k, v in results.items()}
    finally:
        pacs.stop()
        orthanc.stop()
        if not keep:
            import shutil

            shutil.rmtree(orthanc.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# QIDO-RS
# ---------------------------------------------------------------------------------------------------------


def qido_kinds(n: int) -> dict[str, Any]:
    """Query kind -> function(rng) returning the query parameters (the same for both servers)."""

    def patient_id(rng: random.Random) -> dict[str, str]:
        return {"PatientID": study_keys(rng.randrange(n), n).patient_id}

    def accession(rng: random.Random) -> dict[str, str]:
        return {"AccessionNumber": study_keys(rng.randrange(n), n).accession}

    def name_wildcard(rng: random.Random) -> dict[str, str]:
        return {"PatientName": rng.choice(FAMILY)[:4] + "*"}

    def date_modality(rng: random.Random) -> dict[str, str]:
        import datetime as dt

        start = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3650 - 31))
        end = start + dt.timedelta(days=30)
        return {
            "StudyDate": f"{start:%Y%m%d}-{end:%Y%m%d}",
            "ModalitiesInStudy": rng.choice(["CT", "MR"]),
        }

    def offset0(rng: random.Random) -> dict[str, str]:
        return {"offset": "0"}

    deep = max(0, int(n * 0.9))

    def offset_deep(rng: random.Random) -> dict[str, str]:
        return {"offset": str(deep + rng.randrange(100))}

    return {
        "PatientID (exact)": patient_id,
        "AccessionNumber (exact)": accession,
        "PatientName wildcard (4 letters*)": name_wildcard,
        "StudyDate 30-day range + ModalitiesInStudy": date_modality,
        "all studies, offset 0": offset0,
        f"all studies, offset {deep:,}": offset_deep,
    }


def qido_once(client: httpx.Client, server: Server, params: dict[str, str]) -> tuple[float, int]:
    q = {"limit": str(QIDO_LIMIT), **params}
    # Values go into the URL as they are ('*' not percent-encoded): Orthanc does not decode percent-encoding
    # in QIDO values, and every value used here is URL-safe (letters, digits, '*', '-').
    query = "&".join(f"{k}={v}" for k, v in q.items())
    t = time.perf_counter()
    r = client.get(f"{server.dicomweb}/studies?{query}", headers={"Accept": "application/dicom+json"})
    body = r.content
    secs = time.perf_counter() - t
    if r.status_code == 204 or not body:
        return secs, 0
    if r.status_code != 200:
        raise RuntimeError(f"{server.name} QIDO {q} -> HTTP {r.status_code}: {r.text[:300]}")
    return secs, len(r.json())


def ensure_index(n: int) -> tuple[PacsServer, OrthancServer, dict[str, Any]]:
    """Start both cached 100k-study servers, loading whatever is missing (both at once)."""
    pacs = pacs_index_server(n)
    orthanc = orthanc_index_server(n)
    pacs.start()
    orthanc.start()
    loads: dict[str, Any] = {}
    errors: list[BaseException] = []

    def load(srv: Server, **kw: int) -> None:
        try:
            loads[srv.name] = load_index(srv, n, **kw)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=load, args=(pacs,), kwargs={"clients": 2, "batch": 200}),
        threading.Thread(target=load, args=(orthanc,), kwargs={"clients": 4, "batch": 100}),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        pacs.stop()
        orthanc.stop()
        raise errors[0]
    return pacs, orthanc, loads


def bench_qido(report: Report, n: int = STUDIES) -> None:
    pacs, orthanc, loads = ensure_index(n)
    report.conditions["index_studies"] = n
    report.conditions["qido_samples"] = QIDO_SAMPLES
    report.conditions["qido_limit"] = QIDO_LIMIT
    report.note(
        "The indexes were loaded differently: PACS by STOW-RS (200 one-instance studies per request, 2 clients), "
        "Orthanc by REST POST /instances (4 clients); both hold the same "
        f"{n:,} one-instance studies (8x8 CT), cached under var/bench/."
    )
    if any(v.get("loaded") for v in loads.values()):
        report.conditions["index_load"] = loads
    try:
        rng = random.Random(1234)
        mismatches: list[str] = []
        with httpx.Client(timeout=120) as client:
            for kind, make in qido_kinds(n).items():
                times: dict[str, list[float]] = {"PACS": [], "Orthanc": []}
                counts: dict[str, list[int]] = {"PACS": [], "Orthanc": []}
                t_kind = time.time()
                for i in range(QIDO_WARMUP + QIDO_SAMPLES):
                    if i >= QIDO_WARMUP + 10 and time.time() - t_kind > QIDO_BUDGET:
                        break
                    params = make(rng)
                    order: list[Server] = [pacs, orthanc] if i % 2 else [orthanc, pacs]
                    got: dict[str, int] = {}
                    for srv in order:
                        secs, count = qido_once(client, srv, params)
                        got[srv.name] = count
                        if i >= QIDO_WARMUP:
                            times[srv.name].append(secs)
                            counts[srv.name].append(count)
                    if got["PACS"] != got["Orthanc"]:
                        mismatches.append(f"{kind} {params}: PACS {got['PACS']} vs Orthanc {got['Orthanc']}")
                (p50_p, p95_p), (p50_o, p95_o) = p50_p95(times["PACS"]), p50_p95(times["Orthanc"])
                mean_hits = statistics.mean(counts["PACS"]) if counts["PACS"] else 0
                note = f"{mean_hits:.0f} results avg, {len(times['PACS'])} samples"
                log(
                    f"QIDO {kind}: PACS p50 {p50_p * 1e3:.1f} ms p95 {p95_p * 1e3:.1f} ms | "
                    f"Orthanc p50 {p50_o * 1e3:.1f} ms p95 {p95_o * 1e3:.1f} ms ({note})"
                )
                section = f"QIDO-RS /studies, {n:,} studies, limit {QIDO_LIMIT}"
                report.add(section, f"{kind}: p50", "ms", p50_p * 1e3, p50_o * 1e3, better="lower", note=note)
                report.add(
                    section, f"{kind}: p95", "ms", p95_p * 1e3, p95_o * 1e3, better="lower", target=1.0
                )
        if mismatches:
            report.note(
                f"{len(mismatches)} queries returned different counts on the two servers; first: {mismatches[0]}"
            )
        else:
            report.note("every QIDO query returned the same number of studies from both servers")
    finally:
        pacs.stop()
        orthanc.stop()


def main() -> int:
    report = Report("dicomweb", "DICOMweb: PACS Portal vs Orthanc (issue 2)")
    report.conditions.update(
        {"before": machine_conditions(), "orthanc": "1.10.1 + DICOMweb 1.7 (Debian), SQLite index, defaults"}
    )
    report.conditions["pacs"] = (
        "pacs serve (defaults: one HTTP process per core) on PostgreSQL 15 at 127.0.0.1:5432, direct"
    )
    if os.environ.get("BENCH_SKIP_STOW") != "1":
        bench_stow(report)
    if os.environ.get("BENCH_SKIP_QIDO") != "1":
        bench_qido(report)
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
