"""Bulk mode: a very large synthetic index (a million studies) in minutes, for performance work.

The rows are exactly the ones ingest would index for the same planned instances:

- each distinct (procedure, series, instance number) header is built once by :func:`pacs.synth.header.header`
  with sentinel identity values (``@@PN@@``, ``@@STUDY@@`` ...), written as Part-10 and parsed back the way
  ingest parses, then turned into index rows by the same :func:`~pacs.dicom.attributes.instance_record` and
  :func:`~pacs.dicom.json.metadata_json`; the identity values of every planned study are then substituted
  into these row templates (``str.format_map``, C speed), and the ``*_norm`` columns are recomputed with
  :func:`~pacs.dicom.text.fold`;
- derived study/series attributes (counts, sizes, ModalitiesInStudy) are computed from the rows written;
- pixel data is shared: every instance of a series kind points to one stored object of that kind
  (``synth-bulk/<seed>/<kind>.dcm``, written once), so WADO-RS still returns a valid image of the right size.

The load is split into chunks of whole patients; each chunk is one transaction (COPY), so an interrupted load
resumes where it stopped: a chunk whose studies are already indexed is skipped. Chunks are loaded by worker
processes in parallel (one per core by default).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import operator
import os
import re
import string
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import numpy as np
import pydicom
from pydicom.config import disable_value_validation
from sqlalchemy import Engine

from pacs.db import engine_for
from pacs.dicom.attributes import instance_record
from pacs.dicom.json import metadata_json
from pacs.dicom.text import fold
from pacs.synth.generate import dataset, to_bytes
from pacs.synth.header import KINDS
from pacs.synth.plan import (
    UID_ROOT,
    PatientPlan,
    Planner,
    SeriesPlan,
    StudyPlan,
)
from pacs.synth.vocab import PROCEDURES

log = logging.getLogger(__name__)

#: Identity values substituted into row templates; everything else in a header is fixed by the template key.
IDENTITY = (
    "STUDY",
    "SERIES",
    "FOR",
    "PN",
    "PID",
    "ISSUER",
    "BIRTH",
    "SEX",
    "DATE",
    "TIME",
    "STIME",
    "AGE",
    "ACC",
    "SID",
    "REF",
    "INST",
    "STATION",
    "OPER",
)
_SENTINEL = re.compile(r"@@([A-Za-z]+)@@")
_PLAIN = re.compile(r'[^\\"\x00-\x1f\x7f]*')
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_escape(value: str) -> str:
    r"""Escape a value for PostgreSQL's COPY text format.

    >>> copy_escape('a\\b\tc')
    'a\\\\b\\tc'
    """
    return value.translate(_COPY_ESCAPES)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class SharedObject:
    kind: str
    storage_key: str
    size_bytes: int
    transfer_syntax_uid: str


def _sentinel_plans(study: StudyPlan, series: SeriesPlan) -> tuple[StudyPlan, SeriesPlan]:
    patient = PatientPlan(0, "@@PID@@", "@@ISSUER@@", "@@PN@@", "@@SEX@@", "@@BIRTH@@")
    st = dataclasses.replace(
        study,
        uid="@@STUDY@@",
        patient=patient,
        date="@@DATE@@",
        time="@@TIME@@",
        age="@@AGE@@",
        accession="@@ACC@@",
        study_id="@@SID@@",
        referring="@@REF@@",
        institution="@@INST@@",
        station="@@STATION@@",
        operator="@@OPER@@",
        series=(),
    )
    se = dataclasses.replace(series, uid="@@SERIES@@", frame_of_reference_uid="@@FOR@@", time="@@STIME@@")
    return st, se


def _line_format(columns: list[str], row: dict[str, Any], json_columns: set[str]) -> str:
    """A COPY text line for ``row`` as a ``str.format`` template whose fields are the identity values."""
    cells = []
    for col in columns:
        value = row[col]
        if value is None:
            cells.append("\\N")
            continue
        if (
            isinstance(value, str)
            and value.startswith("{")
            and value.endswith("}")
            and col in row.get("__fields__", ())
        ):
            cells.append(value)  # a format field supplied by the caller (ids, counters)
            continue
        is_json = col in json_columns
        text = _json(value) if is_json else str(value)
        text = copy_escape(text).replace("{", "{{").replace("}", "}}")
        suffix = "_J" if is_json else ""

        def sub(m: re.Match[str], suffix: str = suffix) -> str:
            name = m.group(1)
            return "{" + name + suffix + "}" if name.isupper() else "{" + name + "}"

        cells.append(_SENTINEL.sub(sub, text))
    return "\t".join(cells)


class Line:
    """A compiled COPY line template: ``line.render(values)`` is ``fmt.render(values)``, faster."""

    __slots__ = ("_get", "_literals", "_n")

    def __init__(self, fmt: str) -> None:
        literals: list[str] = []
        names: list[str] = []
        pending = ""
        for literal, name, _, _ in string.Formatter().parse(fmt):
            pending += literal
            if name is not None:
                literals.append(pending)
                names.append(name)
                pending = ""
        literals.append(pending)
        self._literals = literals
        self._n = len(names)
        get = operator.itemgetter(*names) if names else (lambda v: ())
        self._get: Callable[[dict[str, str]], Any] = (
            (lambda v, g=get: (g(v),)) if len(names) == 1 else get  # type: ignore[misc]
        )

    def render(self, values: dict[str, str]) -> str:
        parts: list[str] = [""] * (2 * self._n + 1)
        parts[0::2] = self._literals
        parts[1::2] = self._get(values)
        return "".join(parts)


@dataclass
class Template:
    """COPY line templates for one (procedure, series, instance number)."""

    patient: Line
    study: Line
    series: Line
    instance: Line


COLUMNS: dict[str, list[str]] = {}
_ID_FIELDS = {
    "patients": {"id": "{PAT_ID}"},
    "studies": {
        "id": "{ST_ID}",
        "patient_fk": "{PAT_ID}",
        "modalities_in_study": "{MODS}",
        "number_of_series": "{ST_NSE}",
        "number_of_instances": "{ST_NIN}",
        "size_bytes": "{ST_SIZE}",
    },
    "series": {
        "id": "{SE_ID}",
        "study_fk": "{ST_ID}",
        "number_of_instances": "{SE_NIN}",
        "size_bytes": "{SE_SIZE}",
    },
    "instances": {"id": "{IN_ID}", "series_fk": "{SE_ID}", "study_fk": "{ST_ID}"},
}


def _template(study: StudyPlan, series: SeriesPlan, n: int, shared: SharedObject) -> Template:
    st, se = _sentinel_plans(study, series)
    with warnings.catch_warnings(), disable_value_validation():
        warnings.simplefilter("ignore")
        data = to_bytes(dataset(st, se, n, with_pixels=False))
        ds = pydicom.dcmread(BytesIO(data), defer_size=4096)  # as ingest parses (pacs.ingest.parse_part10)
        meta = metadata_json(ds)  # as IngestService._prepare does
        record = instance_record(ds, meta)
    rows = {
        "patients": dict(record.patient),
        "studies": dict(record.study),
        "series": dict(record.series),
        "instances": {
            **record.instance,
            "transfer_syntax_uid": shared.transfer_syntax_uid,
            "storage_key": shared.storage_key,
            "size_bytes": shared.size_bytes,
            "metadata": meta,
        },
    }
    out = {}
    for table, row in rows.items():
        fields = _ID_FIELDS[table]
        row.update(fields)
        row["__fields__"] = set(fields)
        columns = COLUMNS.setdefault(table, [c for c in row if c != "__fields__"])
        out[table] = _line_format(columns, row, {"attrs", "metadata"})
    return Template(Line(out["patients"]), Line(out["studies"]), Line(out["series"]), Line(out["instances"]))


def _identity(study: StudyPlan) -> dict[str, str]:
    p = study.patient
    raw = {
        "STUDY": study.uid,
        "PN": p.name,
        "PID": p.patient_id,
        "ISSUER": p.issuer,
        "BIRTH": p.birth_date,
        "SEX": p.sex,
        "DATE": study.date,
        "TIME": study.time,
        "AGE": study.age,
        "ACC": study.accession,
        "SID": study.study_id,
        "REF": study.referring,
        "INST": study.institution,
        "STATION": study.station,
        "OPER": study.operator,
    }
    values: dict[str, str] = {}
    for k, v in raw.items():
        if _PLAIN.fullmatch(v):  # the common case: nothing to escape, neither for JSON nor for COPY
            values[k] = values[k + "_J"] = v
        else:
            values[k] = copy_escape(v)
            values[k + "_J"] = copy_escape(json.dumps(v, ensure_ascii=False)[1:-1])
    values["pn"] = copy_escape(fold(p.name))
    values["ref"] = copy_escape(fold(study.referring))
    return values


def cap_series(study: StudyPlan, instances_per_series: int) -> StudyPlan:
    """The study with at most ``instances_per_series`` instances per series (bulk keeps the index small)."""
    if instances_per_series <= 0:
        return study
    return dataclasses.replace(
        study,
        series=tuple(
            dataclasses.replace(s, n_instances=min(s.n_instances, instances_per_series)) for s in study.series
        ),
    )


class RowBuilder:
    """Builds COPY text for planned studies (templates cached per process)."""

    def __init__(self, shared: dict[str, SharedObject]) -> None:
        self.shared = shared
        self._templates: dict[tuple[Any, ...], Template] = {}

    def template(self, study: StudyPlan, series: SeriesPlan, n: int) -> Template:
        key = (
            study.procedure,
            series.kind,
            series.description,
            series.body_part,
            series.laterality,
            series.n_instances,
            series.number,
            n,
        )
        t = self._templates.get(key)
        if t is None:
            t = self._templates[key] = _template(study, series, n, self.shared[series.kind])
        return t

    def lines(
        self, studies: list[StudyPlan], ids: Callable[[str], Iterator[int]]
    ) -> tuple[dict[str, list[str]], int]:
        """COPY lines per table for ``studies`` (whole patients); ``ids(table)`` yields fresh keys."""
        out: dict[str, list[str]] = {"patients": [], "studies": [], "series": [], "instances": []}
        pat_ids: dict[tuple[str, str], int] = {}
        pat_id_iter, st_id_iter, se_id_iter, in_id_iter = (
            ids("patients"),
            ids("studies"),
            ids("series"),
            ids("instances"),
        )
        n_instances = 0
        for study in studies:
            values = _identity(study)
            pkey = (study.patient.patient_id, study.patient.issuer)
            first_tpl = self.template(study, study.series[0], 1)
            if pkey not in pat_ids:
                pat_ids[pkey] = next(pat_id_iter)
                values["PAT_ID"] = str(pat_ids[pkey])
                out["patients"].append(first_tpl.patient.render(values))
            values["PAT_ID"] = str(pat_ids[pkey])
            values["ST_ID"] = str(next(st_id_iter))
            st_size = st_nin = 0
            for se in study.series:
                values["SERIES"] = values["SERIES_J"] = se.uid
                values["FOR"] = values["FOR_J"] = se.frame_of_reference_uid
                values["STIME"] = values["STIME_J"] = se.time
                values["SE_ID"] = str(next(se_id_iter))
                size = self.shared[se.kind].size_bytes
                for n in range(1, se.n_instances + 1):
                    values["IN_ID"] = str(next(in_id_iter))
                    out["instances"].append(self.template(study, se, n).instance.render(values))
                values["SE_NIN"] = str(se.n_instances)
                values["SE_SIZE"] = str(se.n_instances * size)
                out["series"].append(self.template(study, se, 1).series.render(values))
                st_nin += se.n_instances
                st_size += se.n_instances * size
            values["MODS"] = "{" + ",".join(study.modalities) + "}"
            values["ST_NSE"] = str(len(study.series))
            values["ST_NIN"] = str(st_nin)
            values["ST_SIZE"] = str(st_size)
            out["studies"].append(first_tpl.study.render(values))
            n_instances += st_nin
        return out, n_instances


# -- shared pixel objects ------------------------------------------------------------------------------------


def _representative(seed: int, kind: str) -> tuple[StudyPlan, SeriesPlan]:
    """A fixed study/series of ``kind`` (study index -1: UIDs ``<root>.<seed>.0...``, never planned)."""
    modality = kind.split("-")[0]
    proc = next(
        p
        for p in PROCEDURES
        if any(s.kind == kind for s in _series_kinds(p)) and p.modality in (modality, "PT")
    )
    patient = PatientPlan(-1, "SYNTHBULK", f"SYNTH{seed}", "Bulk^Template", "O", "19700101")
    series = next(s for s in _series_kinds(proc) if s.kind == kind)
    uid = f"{UID_ROOT}.{seed}.0"
    se = SeriesPlan(
        number=1,
        uid=f"{uid}.{list(KINDS).index(kind) + 1}",
        modality=series.modality,
        kind=kind,
        description=series.description,
        body_part=proc.body_part,
        laterality=series.laterality,
        n_instances=1,
        frame_of_reference_uid=f"{uid}.{list(KINDS).index(kind) + 1}.0",
        time="120000",
    )
    st = StudyPlan(
        seed=seed,
        index=-1,
        uid=uid,
        patient=patient,
        date="20200101",
        time="120000",
        age="050Y",
        accession="BULKTEMPLATE",
        study_id="0",
        description=proc.description,
        procedure=proc,
        referring="",
        institution="PACS Portal Synthetic",
        station="SYNTH",
        operator="",
        series=(se,),
    )
    return st, se


def _series_kinds(proc: Any) -> list[Any]:
    import random

    return proc.series_for(random.Random(0))


def write_shared_objects(store: Any, seed: int) -> dict[str, SharedObject]:
    """One stored Part-10 object per series kind (pixel data shared by every bulk instance of that kind)."""
    out = {}
    for kind in KINDS:
        st, se = _representative(seed, kind)
        data = to_bytes(dataset(st, se, 1))
        key = f"synth-bulk/{seed}/{kind}.dcm"
        store.put(key, data)
        out[kind] = SharedObject(kind, key, len(data), "1.2.840.10008.1.2.1")
    return out


# -- the load ------------------------------------------------------------------------------------------------


@dataclass
class BulkJob:
    url: str
    seed: int
    n_studies: int
    chunk_studies: int
    instances_per_series: int
    shared: dict[str, SharedObject]


@dataclass
class ChunkResult:
    chunk: int
    studies: int
    instances: int
    skipped: bool
    seconds: float


_worker: dict[str, Any] = {}


def _init_worker(job: BulkJob) -> None:
    _worker["job"] = job
    _worker["engine"] = engine_for(job.url, pool_size=1)
    _worker["planner"] = Planner(job.seed, job.n_studies, job.instances_per_series)
    _worker["builder"] = RowBuilder(job.shared)


def chunk_patients(planner: Planner, chunk_studies: int) -> list[range]:
    """Split the patients into chunks of about ``chunk_studies`` studies (whole patients per chunk)."""
    if planner.n_patients == 0:
        return []
    starts = planner.first_study
    bounds = np.searchsorted(starts, np.arange(0, planner.n_studies, chunk_studies), side="left")
    edges = sorted(set(int(b) for b in bounds) | {planner.n_patients})
    return [range(a, b) for a, b in itertools.pairwise(edges) if b > a]


def load_chunk(chunk: int, patients: range) -> ChunkResult:
    from pacs.index import bulk as sql

    t0 = time.perf_counter()
    engine: Engine = _worker["engine"]
    planner: Planner = _worker["planner"]
    builder: RowBuilder = _worker["builder"]
    studies = [s for p in patients for s in planner.studies_of_patient(p)]
    uids = [s.uid for s in studies]
    with engine.begin() as conn:
        existing = sql.count_existing_studies(conn, uids)
        if existing == len(uids):
            return ChunkResult(chunk, len(studies), 0, True, time.perf_counter() - t0)
        if existing:
            raise RuntimeError(
                f"chunk {chunk}: {existing} of its {len(uids)} studies are already in the archive (loaded by "
                "another path, e.g. the demo seed with the same seed); use another --seed"
            )
        counts = {
            "patients": len({(s.patient.patient_id, s.patient.issuer) for s in studies}),
            "studies": len(studies),
            "series": sum(len(s.series) for s in studies),
            "instances": sum(s.n_instances for s in studies),
        }
        allocated = {t: sql.allocate_ids(conn, t, n) for t, n in counts.items()}
        lines, n_instances = builder.lines(studies, lambda t: iter(allocated[t]))
        sql.fast_commit(conn)
        for table in ("patients", "studies", "series", "instances"):
            sql.copy_text(conn, table, COLUMNS[table], "\n".join(lines[table]) + "\n")
        sql.announce(conn, n_instances, uids)
    return ChunkResult(chunk, len(studies), n_instances, False, time.perf_counter() - t0)


def _load_chunk_args(args: tuple[int, range]) -> ChunkResult:
    return load_chunk(*args)


def run_bulk(
    job: BulkJob,
    *,
    workers: int | None = None,
    progress: Callable[[ChunkResult], None] | None = None,
) -> list[ChunkResult]:
    """Load the planned studies chunk by chunk, in ``workers`` processes (default: one per core)."""
    planner = Planner(job.seed, job.n_studies)
    chunks = list(enumerate(chunk_patients(planner, job.chunk_studies)))
    workers = workers or os.cpu_count() or 1
    results: list[ChunkResult] = []
    if workers <= 1 or len(chunks) <= 1:
        _init_worker(job)
        try:
            for c in chunks:
                r = _load_chunk_args(c)
                results.append(r)
                if progress:
                    progress(r)
        finally:
            _worker.pop("engine").dispose()
        return results
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(job,)) as pool:
        for r in pool.imap_unordered(_load_chunk_args, chunks):
            results.append(r)
            if progress:
                progress(r)
    return results
