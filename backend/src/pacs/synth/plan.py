"""The deterministic plan of a synthetic archive: patients, studies, series and instance counts (no pixels).

Everything is a pure function of ``(seed, index)``: the same seed gives the same patients, studies and UIDs in
every run, and a study can be planned without planning the ones before it (bulk mode resumes by chunk).

Names, institutions and physicians come from Faker pools built once per seed; dates spread over years with a
weekday/office-hours pattern plus an emergency share at any hour; each patient has one or more studies over
time (priors), modalities in proportions close to a general hospital's radiology department.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

import numpy as np
from faker import Faker

from pacs.synth.vocab import MODALITY_WEIGHTS, PROCEDURES, Procedure

#: pydicom's UID root (PS3.5 9.2; pydicom's registered root is meant for generated UIDs) + ".77" for synth.
UID_ROOT = "1.2.826.0.1.3680043.8.498.77"
#: The marker every synthetic dataset carries in a descriptive attribute (PatientComments / ImageComments).
FICTITIOUS_MARKER = "SYNTHETIC FICTITIOUS DATA - NOT A REAL PATIENT - NOT FOR CLINICAL USE"

FIRST_DATE = date(2014, 1, 1)
LAST_DATE = date(2025, 12, 31)
_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT")
_LOCALE_WEIGHTS = (0.55, 0.1, 0.1, 0.1, 0.1, 0.05)
#: Studies per patient: 1..8, many patients with priors.
_STUDIES_PER_PATIENT = np.array([1, 2, 3, 4, 5, 6, 7, 8])
_STUDIES_PER_PATIENT_P = np.array([0.42, 0.24, 0.13, 0.08, 0.05, 0.04, 0.02, 0.02])
_MODALITIES = list(MODALITY_WEIGHTS)
_MODALITY_CUM = list(np.cumsum(list(MODALITY_WEIGHTS.values())))
_BY_MODALITY = {m: [p for p in PROCEDURES if p.modality == m] for m in _MODALITIES}


def study_uid(seed: int, study_index: int) -> str:
    """The Study Instance UID of study ``study_index`` (0-based) of ``seed``.

    >>> study_uid(3, 41)
    '1.2.826.0.1.3680043.8.498.77.3.42'
    """
    return f"{UID_ROOT}.{seed}.{study_index + 1}"


def series_uid(seed: int, study_index: int, series_number: int) -> str:
    return f"{UID_ROOT}.{seed}.{study_index + 1}.{series_number}"


def sop_uid(seed: int, study_index: int, series_number: int, instance_number: int) -> str:
    return f"{UID_ROOT}.{seed}.{study_index + 1}.{series_number}.{instance_number}"


def frame_of_reference_uid(seed: int, study_index: int, series_number: int) -> str:
    return f"{UID_ROOT}.{seed}.{study_index + 1}.{series_number}.0"


@dataclass(slots=True)
class PatientPlan:
    index: int
    patient_id: str
    issuer: str
    name: str  # DICOM PN: Family^Given^Middle
    sex: str
    birth_date: str  # DA


@dataclass(slots=True)
class SeriesPlan:
    number: int
    uid: str
    modality: str
    kind: str  # key into the header/pixel builders, e.g. "CT", "US-CINE", "NM-WB"
    description: str
    body_part: str
    laterality: str
    n_instances: int
    frame_of_reference_uid: str
    time: str


@dataclass(slots=True)
class StudyPlan:
    """One planned study. Identity fields are strings in DICOM form (DA, TM, AS, PN)."""

    seed: int
    index: int
    uid: str
    patient: PatientPlan
    date: str  # DA
    time: str  # TM
    age: str  # AS
    accession: str
    study_id: str
    description: str
    procedure: Procedure
    referring: str
    institution: str
    station: str
    operator: str
    series: tuple[SeriesPlan, ...] = field(default_factory=tuple)

    @property
    def modalities(self) -> list[str]:
        return sorted({s.modality for s in self.series})

    @property
    def n_instances(self) -> int:
        return sum(s.n_instances for s in self.series)


class Pools:
    """Faker-made name pools, built once per seed (fast, deterministic)."""

    def __init__(self, seed: int, size: int = 1500) -> None:
        fake = Faker(list(_LOCALES))
        fake.seed_instance(seed)
        self.last: dict[str, list[str]] = {}
        self.male: dict[str, list[str]] = {}
        self.female: dict[str, list[str]] = {}
        for loc in _LOCALES:
            f = fake[loc]
            self.last[loc] = [f.last_name() for _ in range(size)]
            self.male[loc] = [f.first_name_male() for _ in range(size // 2)]
            self.female[loc] = [f.first_name_female() for _ in range(size // 2)]
        us = fake["en_US"]
        self.physicians = [
            f"{us.last_name()}^{(us.first_name_male() if i % 2 else us.first_name_female())}^^Dr"
            for i in range(300)
        ]
        suffixes = ("General Hospital", "Medical Center", "University Hospital", "Clinic", "Imaging Center")
        self.institutions = [f"{us.city()} {suffixes[i % len(suffixes)]}" for i in range(12)]
        self.operators = [f"{us.last_name()}^{us.first_name()}" for _ in range(60)]

    def person(self, rng: random.Random, sex: str) -> str:
        loc = rng.choices(_LOCALES, _LOCALE_WEIGHTS)[0]
        firsts = self.male[loc] if sex == "M" else self.female[loc]
        family = rng.choice(self.last[loc])
        given = rng.choice(firsts)
        if rng.random() < 0.25:
            middle = rng.choice(firsts)
            return f"{family}^{given}^{middle}"
        return f"{family}^{given}"


def patient_age(birth: date, on: date) -> str:
    """PatientAge (AS) on a date.

    >>> patient_age(date(1980, 6, 1), date(2020, 5, 31))
    '039Y'
    >>> patient_age(date(2020, 1, 1), date(2020, 7, 15))
    '006M'
    """
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    if years >= 2:
        return f"{years:03d}Y"
    return f"{max(0, (on - birth).days // 30):03d}M"


def _clean_pn(name: str) -> str:
    # PN components are separated by '^'; Faker names may contain blanks and hyphens, which are fine.
    return name.replace("\\", "").strip()


def _study_datetime(rng: random.Random, day: date) -> tuple[date, str]:
    """Office hours on weekdays mostly; 12% emergency studies at any hour and any day."""
    emergency = rng.random() < 0.12
    if not emergency:
        while day.weekday() >= 5 and rng.random() < 0.85:
            day += timedelta(days=1 if day.weekday() == 6 else 2)
        hour = int(min(19, max(7, rng.gauss(11.5, 2.8))))
    else:
        hour = rng.randrange(24)
    return day, f"{hour:02d}{rng.randrange(60):02d}{rng.randrange(60):02d}"


class Planner:
    """Plan ``n_studies`` studies for ``seed``. ``planner.study(i)`` is cheap and independent of other studies.

    ``max_instances_per_series`` (0: no limit) caps the planned series, as the bulk mode and the demo do.
    """

    def __init__(self, seed: int, n_studies: int, max_instances_per_series: int = 0) -> None:
        if not 0 <= seed < 2**31:
            raise ValueError("seed must be between 0 and 2**31 - 1")
        if n_studies < 0:
            raise ValueError("the number of studies must not be negative")
        self.seed = seed
        self.n_studies = n_studies
        self.max_instances = max_instances_per_series
        counts = np.random.default_rng(seed).choice(
            _STUDIES_PER_PATIENT, size=max(1, n_studies), p=_STUDIES_PER_PATIENT_P
        )
        ends = np.cumsum(counts)
        n_patients = int(np.searchsorted(ends, n_studies, side="left")) + 1 if n_studies else 0
        self.first_study = np.concatenate(([0], ends[: max(0, n_patients - 1)])).astype(np.int64)
        self.n_patients = n_patients

    @cached_property
    def pools(self) -> Pools:
        return Pools(self.seed)

    def patient_of(self, study_index: int) -> int:
        return int(np.searchsorted(self.first_study, study_index, side="right")) - 1

    def patient_studies(self, patient_index: int) -> range:
        start = int(self.first_study[patient_index])
        end = (
            int(self.first_study[patient_index + 1])
            if patient_index + 1 < self.n_patients
            else self.n_studies
        )
        return range(start, end)

    def studies_of_patient(self, patient_index: int) -> list[StudyPlan]:
        rng = random.Random(self.seed * 1_000_003 + patient_index)
        sex = "F" if rng.random() < 0.52 else "M"
        name = _clean_pn(self.pools.person(rng, sex))
        age_days = int(min(98, max(0.1, rng.triangular(0, 95, 62))) * 365.25)
        birth = FIRST_DATE - timedelta(days=age_days - rng.randrange(0, 3650))
        patient = PatientPlan(
            index=patient_index,
            patient_id=f"MRN{patient_index + 1:07d}",
            issuer=f"SYNTH{self.seed}",
            name=name,
            sex=sex,
            birth_date=birth.strftime("%Y%m%d"),
        )
        span = (LAST_DATE - FIRST_DATE).days
        day = FIRST_DATE + timedelta(days=rng.randrange(span))
        day = max(day, birth + timedelta(days=1))
        out: list[StudyPlan] = []
        previous: Procedure | None = None
        for study_index in self.patient_studies(patient_index):
            if out:  # priors: follow-ups weeks to years apart, in order
                gap = int(rng.expovariate(1 / 240)) + 1
                if day + timedelta(days=gap) > LAST_DATE:
                    gap = rng.randrange(1, 8)
                day = day + timedelta(days=gap)
            day, time = _study_datetime(rng, day)
            proc = self._procedure(rng, sex, (day - birth).days / 365.25, previous)
            previous = proc
            out.append(self._study(rng, patient, birth, study_index, day, time, proc))
        return out

    def study(self, study_index: int) -> StudyPlan:
        if not 0 <= study_index < self.n_studies:
            raise IndexError(study_index)
        p = self.patient_of(study_index)
        return self.studies_of_patient(p)[study_index - int(self.first_study[p])]

    def __iter__(self):  # type: ignore[no-untyped-def]
        for p in range(self.n_patients):
            yield from self.studies_of_patient(p)

    # -- internals ----------------------------------------------------------------------------------------
    def _procedure(self, rng: random.Random, sex: str, age: float, previous: Procedure | None) -> Procedure:
        if previous is not None and rng.random() < 0.45:
            return previous  # follow-up of the same kind: a comparable prior
        while True:
            modality = rng.choices(_MODALITIES, cum_weights=_MODALITY_CUM)[0]
            candidates = [p for p in _BY_MODALITY[modality] if p.sex in ("", sex) and p.min_age <= age]
            if candidates:
                return rng.choices(candidates, [c.weight for c in candidates])[0]

    def _study(
        self,
        rng: random.Random,
        patient: PatientPlan,
        birth: date,
        study_index: int,
        day: date,
        time: str,
        proc: Procedure,
    ) -> StudyPlan:
        pools = self.pools
        inst = rng.randrange(len(pools.institutions))
        series: list[SeriesPlan] = []
        minute = int(time[2:4])
        for k, sp in enumerate(proc.series_for(rng), start=1):
            minute += rng.randrange(1, 4)
            hh = (int(time[:2]) + minute // 60) % 24
            series.append(
                SeriesPlan(
                    number=k,
                    uid=series_uid(self.seed, study_index, k),
                    modality=sp.modality,
                    kind=sp.kind,
                    description=sp.description,
                    body_part=proc.body_part,
                    laterality=sp.laterality,
                    n_instances=min(sp.n_instances, self.max_instances or sp.n_instances),
                    # one scan session, one patient position: the series share a frame of reference
                    frame_of_reference_uid=frame_of_reference_uid(self.seed, study_index, 0),
                    time=f"{hh:02d}{minute % 60:02d}{rng.randrange(60):02d}",
                )
            )
        return StudyPlan(
            seed=self.seed,
            index=study_index,
            uid=study_uid(self.seed, study_index),
            patient=patient,
            date=day.strftime("%Y%m%d"),
            time=time,
            age=patient_age(birth, day),
            accession=f"{'ABCDEFGHJKLM'[inst]}{day.year % 100:02d}{study_index + 1:08d}",
            study_id=f"{(study_index + 1) % 100000:05d}",
            description=proc.description,
            procedure=proc,
            referring=rng.choice(pools.physicians),
            institution=pools.institutions[inst],
            station=f"{proc.modality}{inst + 1:02d}{rng.randrange(1, 4)}",
            operator=rng.choice(pools.operators),
            series=tuple(series),
        )
