"""DIMSE benchmark (issue 3): C-STORE ingest and C-FIND latency, PACS Portal beside Orthanc, same run.

1. C-STORE of real-size CT (512x512, 16-bit, about 513 kB) with a pynetdicom SCU into two fresh, empty servers:
   one association storing BENCH_CSTORE_INSTANCES slices one after the other, and 4 parallel associations
   sharing the same number. instances/s, MB/s and the per-store latency (p50). The SCU uses pynetdicom's
   default sockets (Nagle on, like most modalities); one extra row repeats the single association with
   TCP_NODELAY on the SCU side too, to show where a fixed per-store delay comes from.
2. C-FIND (Study Root, STUDY level) on the cached index of BENCH_STUDIES studies in each server (the one
   bench_dicomweb.py loads): p50/p95 for PatientID, AccessionNumber, PatientName wildcard and StudyDate range +
   ModalitiesInStudy. One association per server and query kind; the same keys to both, alternately; the match
   counts are compared.

PACS's DIMSE SCP is started by ``pacs serve`` (issue 3). When the running code has none, the PACS column stays
empty and the report says so.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    FAMILY,
    GIVEN,
    RESULTS_DIR,
    STUDIES,
    VAR_DIR,
    OrthancServer,
    PacsServer,
    Report,
    cpu_delta,
    ct_slice,
    env_int,
    log,
    machine_conditions,
    p50_p95,
    run_tag,
    study_keys,
)
from pydicom.dataset import Dataset
from pynetdicom import AE, _config, evt
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelFind

ROUNDS = env_int("BENCH_ROUNDS", 3)
CSTORE_INSTANCES = env_int("BENCH_CSTORE_INSTANCES", 100)
CFIND_SAMPLES = env_int("BENCH_CFIND_SAMPLES", 40)
CFIND_WARMUP = env_int("BENCH_CFIND_WARMUP", 3)
CFIND_BUDGET = env_int("BENCH_CFIND_BUDGET", 150)  # seconds per query kind; at least 10 samples are taken
SCU_AET = "BENCHSCU"
MB = 1_000_000

Server = PacsServer | OrthancServer


def _nodelay(event: evt.Event) -> None:
    sock = event.assoc.dul.socket.socket
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _peer(server: Server) -> tuple[int, str]:
    if isinstance(server, PacsServer):
        return server.dimse_port, server.ae_title
    return server.dicom_port, server.aet


def _ae() -> AE:
    ae = AE(ae_title=SCU_AET)
    ae.acse_timeout = 60
    ae.dimse_timeout = 120
    ae.network_timeout = 120
    ae.maximum_pdu_size = 0  # unlimited on our side, as dcmtk
    return ae


def echo_ok(server: Server) -> bool:
    port, aet = _peer(server)
    ae = _ae()
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", port, ae_title=aet)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


# ---------------------------------------------------------------------------------------------------------
# C-STORE
# ---------------------------------------------------------------------------------------------------------


def write_slices(tag: str, n: int, folder: Path) -> list[Path]:
    """Real-size CT slices as Part-10 files (sent as they are: see store_association)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{tag}-{i}.dcm"
        p.write_bytes(ct_slice(tag, i))
        paths.append(p)
    return paths


def store_association(server: Server, paths: list[Path], nodelay: bool = False) -> list[float]:
    """Store ``paths`` on one association; per-store latencies (association setup not included)."""
    port, aet = _peer(server)
    ae = _ae()
    ae.add_requested_context(
        CTImageStorage, ["1.2.840.10008.1.2.1"]
    )  # the files' syntax: they go as they are
    handlers = [(evt.EVT_CONN_OPEN, _nodelay)] if nodelay else []
    assoc = ae.associate("127.0.0.1", port, ae_title=aet, evt_handlers=handlers)
    if not assoc.is_established:
        raise RuntimeError(f"{server.name} refused the association")
    lat = []
    # Send each file's data set bytes as they are (like dcmtk's storescu): without this pynetdicom reads every
    # file with pydicom and encodes it again, SCU work that competed with the server for the same two cores.
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        for p in paths:
            t = time.perf_counter()
            status = assoc.send_c_store(p)
            lat.append(time.perf_counter() - t)
            if not status or status.Status != 0:
                raise RuntimeError(f"{server.name} C-STORE of {p.name} -> {status}")
    finally:
        assoc.release()
    return lat


def cstore_run(server: Server, paths: list[Path], associations: int, nodelay: bool = False) -> dict[str, Any]:
    shares = [paths[i::associations] for i in range(associations)]
    cpu0 = server.cpu_snapshot()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(associations) as pool:
        lats = [
            lat
            for f in [pool.submit(store_association, server, s, nodelay) for s in shares]
            for lat in f.result()
        ]
    secs = time.perf_counter() - t0
    cpu = cpu_delta(cpu0, server.cpu_snapshot())
    size = sum(p.stat().st_size for p in paths)
    return {
        "inst_s": len(paths) / secs,
        "mb_s": size / MB / secs,
        "p50_ms": statistics.median(lats) * 1e3,
        "seconds": secs,
        "cpu_ms": cpu * 1e3 / len(paths),
    }


def bench_cstore(report: Report, pacs_dimse: bool) -> None:
    keep = os.environ.get("BENCH_KEEP", "") == "1"
    pacs = PacsServer(
        "pacs_bench_dimse", VAR_DIR / "dimse-pacs" / "storage", fresh=True, drop_on_stop=not keep
    )
    orthanc = OrthancServer(VAR_DIR / "dimse-orthanc", fresh=True)
    scu_dir = VAR_DIR / "dimse-scu"
    servers: list[Server] = [orthanc]
    try:
        if pacs_dimse:
            pacs.start()
            if not pacs.has_dimse() or not echo_ok(pacs):
                report.note("pacs serve did not answer C-ECHO on PACS_DIMSE_PORT: PACS C-STORE not measured")
            else:
                servers.append(pacs)
        orthanc.start()
        for srv in servers:  # warm-up, not measured
            store_association(srv, write_slices(run_tag() + str(len(srv.name)), 3, scu_dir / "warm"))
        configs = [(1, False), (4, False), (1, True)]
        results: dict[tuple[str, int, bool], list[dict[str, Any]]] = {}
        for rnd in range(ROUNDS):
            for assocs, nodelay in configs:
                order = servers if (rnd + assocs) % 2 else list(reversed(servers))
                for srv in order:
                    tag = f"{run_tag()}{rnd}{assocs}{int(nodelay)}"
                    paths = write_slices(tag, CSTORE_INSTANCES, scu_dir / tag)
                    try:
                        res = cstore_run(srv, paths, assocs, nodelay)
                    except RuntimeError as exc:  # a peer dropped the association: note it, keep going
                        report.note(f"round {rnd + 1}, {srv.name}, {assocs} association(s): {exc}")
                        continue
                    results.setdefault((srv.name, assocs, nodelay), []).append(res)
                    log(
                        f"C-STORE round {rnd + 1}/{ROUNDS} {srv.name:7} associations={assocs} "
                        f"scu_nodelay={nodelay}: {res['inst_s']:.1f} inst/s, {res['mb_s']:.1f} MB/s, "
                        f"p50 {res['p50_ms']:.1f} ms/store, server CPU {res['cpu_ms']:.1f} ms/instance"
                    )
                    for p in paths:
                        p.unlink()

        def med(name: str, assocs: int, nodelay: bool, key: str) -> float | None:
            runs = results.get((name, assocs, nodelay))
            return statistics.median(r[key] for r in runs) if runs else None

        section = "C-STORE ingest, 512x512 16-bit CT, pynetdicom SCU"
        for assocs, nodelay in configs:
            label = f"{assocs} association{'s' if assocs > 1 else ''}"
            if nodelay:
                label += ", SCU TCP_NODELAY"
            target = 5.0 if (assocs == 1 and not nodelay) else None
            report.add(
                section,
                f"{label}: instances/s",
                "inst/s",
                med("PACS", assocs, nodelay, "inst_s"),
                med("Orthanc", assocs, nodelay, "inst_s"),
                target=target,
            )
            report.add(
                section,
                f"{label}: MB/s",
                "MB/s",
                med("PACS", assocs, nodelay, "mb_s"),
                med("Orthanc", assocs, nodelay, "mb_s"),
            )
            report.add(
                section,
                f"{label}: server CPU per instance",
                "ms",
                med("PACS", assocs, nodelay, "cpu_ms"),
                med("Orthanc", assocs, nodelay, "cpu_ms"),
                better="lower",
            )
            report.add(
                section,
                f"{label}: per-store latency p50",
                "ms",
                med("PACS", assocs, nodelay, "p50_ms"),
                med("Orthanc", assocs, nodelay, "p50_ms"),
                better="lower",
            )
        report.conditions["cstore_instances_per_run"] = CSTORE_INSTANCES
        report.conditions["cstore_raw"] = {f"{k[0]} a{k[1]} nd{int(k[2])}": v for k, v in results.items()}
    finally:
        pacs.stop()
        orthanc.stop()
        import shutil

        shutil.rmtree(scu_dir, ignore_errors=True)
        if report.notes and (orthanc.workdir / "orthanc.log").exists():
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copy(orthanc.workdir / "orthanc.log", RESULTS_DIR / "dimse-orthanc.log")
        if not keep:
            shutil.rmtree(orthanc.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# C-FIND
# ---------------------------------------------------------------------------------------------------------

RETURN_KEYS = (
    "StudyInstanceUID",
    "PatientName",
    "PatientID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyDescription",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedInstances",
)


def cfind_kinds(n: int) -> dict[str, Any]:
    def base() -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        for kw in RETURN_KEYS:
            setattr(ds, kw, "")
        return ds

    def patient_id(rng: random.Random) -> Dataset:
        ds = base()
        ds.PatientID = study_keys(rng.randrange(n), n).patient_id
        return ds

    def accession(rng: random.Random) -> Dataset:
        ds = base()
        ds.AccessionNumber = study_keys(rng.randrange(n), n).accession
        return ds

    def name_wildcard(rng: random.Random) -> Dataset:
        ds = base()
        ds.PatientName = f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)[0]}*"
        return ds

    def date_modality(rng: random.Random) -> Dataset:
        import datetime as dt

        start = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3650 - 31))
        end = start + dt.timedelta(days=30)
        ds = base()
        ds.StudyDate = f"{start:%Y%m%d}-{end:%Y%m%d}"
        ds.ModalitiesInStudy = rng.choice(["CT", "MR"])
        return ds

    return {
        "PatientID (exact)": patient_id,
        "AccessionNumber (exact)": accession,
        "PatientName wildcard (FAMILY^G*)": name_wildcard,
        "StudyDate 30-day range + ModalitiesInStudy": date_modality,
    }


class FindClient:
    """One Study Root C-FIND association to a server, reused for a series of queries."""

    def __init__(self, server: Server) -> None:
        port, aet = _peer(server)
        self.server = server
        self.ae = _ae()
        self.ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        self.assoc = self.ae.associate("127.0.0.1", port, ae_title=aet)
        if not self.assoc.is_established:
            raise RuntimeError(f"{server.name} refused the C-FIND association")

    def find(self, ds: Dataset) -> tuple[float, int]:
        t = time.perf_counter()
        matches = 0
        final = None
        for status, ident in self.assoc.send_c_find(ds, StudyRootQueryRetrieveInformationModelFind):
            if not status:
                raise RuntimeError(f"{self.server.name} C-FIND: no status (association aborted?)")
            if status.Status in (0xFF00, 0xFF01):
                matches += ident is not None
            else:
                final = status.Status
        secs = time.perf_counter() - t
        if final != 0:
            raise RuntimeError(f"{self.server.name} C-FIND ended with status 0x{final or 0:04X}")
        return secs, matches

    def close(self) -> None:
        self.assoc.release()


def bench_cfind(report: Report, pacs_dimse: bool, n: int = STUDIES) -> None:
    from bench_dicomweb import ensure_index

    pacs, orthanc, _ = ensure_index(n)
    try:
        servers: list[Server] = [orthanc]
        if pacs_dimse and pacs.has_dimse() and echo_ok(pacs):
            servers.append(pacs)
        elif pacs_dimse:
            report.note("pacs serve did not answer C-ECHO on PACS_DIMSE_PORT: PACS C-FIND not measured")
        rng = random.Random(4321)
        mismatches: list[str] = []
        section = f"C-FIND study level (Study Root), {n:,} studies"
        for kind, make in cfind_kinds(n).items():
            clients = {s.name: FindClient(s) for s in servers}
            times: dict[str, list[float]] = {s.name: [] for s in servers}
            hits: list[int] = []
            try:
                t_kind = time.time()
                for i in range(CFIND_WARMUP + CFIND_SAMPLES):
                    if i >= CFIND_WARMUP + 10 and time.time() - t_kind > CFIND_BUDGET:
                        break
                    ds = make(rng)
                    order = servers if i % 2 else list(reversed(servers))
                    got = {}
                    for srv in order:
                        secs, count = clients[srv.name].find(ds)
                        got[srv.name] = count
                        if i >= CFIND_WARMUP:
                            times[srv.name].append(secs)
                    if len(set(got.values())) > 1:
                        mismatches.append(f"{kind}: {got}")
                    hits.append(got["Orthanc"])
            finally:
                for c in clients.values():
                    c.close()
            stats = {name: p50_p95(v) if v else (None, None) for name, v in times.items()}
            pp = stats.get("PACS", (None, None))
            oo = stats["Orthanc"]
            note = f"{statistics.mean(hits):.0f} matches avg, {len(times['Orthanc'])} samples"
            log(f"C-FIND {kind}: PACS {pp} Orthanc {oo} ({note})")

            def ms(v: float | None) -> float | None:
                return None if v is None else v * 1e3

            report.add(section, f"{kind}: p50", "ms", ms(pp[0]), ms(oo[0]), better="lower", note=note)
            report.add(section, f"{kind}: p95", "ms", ms(pp[1]), ms(oo[1]), better="lower", target=1.0)
        if mismatches:
            report.note(f"{len(mismatches)} C-FIND queries matched differently; first: {mismatches[0]}")
        elif len(servers) == 2:
            report.note("every C-FIND query matched the same number of studies on both servers")
        report.conditions["cfind_samples"] = CFIND_SAMPLES
    finally:
        pacs.stop()
        orthanc.stop()


def pacs_has_dimse_code() -> bool:
    try:
        import pacs.dimse  # noqa: F401
    except Exception:
        return False
    return True


def main() -> int:
    report = Report("dimse", "DIMSE: PACS Portal vs Orthanc (issue 3)")
    report.conditions.update(
        {
            "before": machine_conditions(),
            "orthanc": "1.10.1 (Debian), SQLite index, defaults",
            "pacs": "pacs serve (defaults; DIMSE runs in the first process) on PostgreSQL 15, direct",
            "scu": "pynetdicom 3 AE, loopback",
        }
    )
    pacs_dimse = pacs_has_dimse_code()
    if not pacs_dimse:
        report.note("PACS has no DIMSE SCP in this checkout (backend/src/pacs/dimse): Orthanc side only")
    if os.environ.get("BENCH_SKIP_CSTORE") != "1":
        bench_cstore(report, pacs_dimse)
    if os.environ.get("BENCH_SKIP_CFIND") != "1":
        bench_cfind(report, pacs_dimse)
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
