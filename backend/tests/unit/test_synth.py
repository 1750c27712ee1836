"""The synthetic generator: deterministic, realistic plans, proper geometry, decodable non-uniform pixels."""

from __future__ import annotations

from collections import Counter
from datetime import date
from io import BytesIO

import numpy as np
import pydicom
import pytest

from pacs.synth import bulk
from pacs.synth.compress import encode
from pacs.synth.generate import dataset, instance_bytes, study_files, to_bytes
from pacs.synth.header import KINDS
from pacs.synth.plan import FICTITIOUS_MARKER, Planner, SeriesPlan, StudyPlan
from pacs.synth.vocab import MODALITY_WEIGHTS


def _first_of_each_kind(seed: int = 5, n: int = 600, cap: int = 3) -> dict[str, tuple[StudyPlan, SeriesPlan]]:
    found: dict[str, tuple[StudyPlan, SeriesPlan]] = {}
    for study in Planner(seed, n, cap):
        for series in study.series:
            found.setdefault(series.kind, (study, series))
    return found


KIND_SAMPLES = _first_of_each_kind()


def test_every_kind_is_planned():
    assert set(KIND_SAMPLES) == set(KINDS)
    assert {k.split("-")[0] for k in KIND_SAMPLES} >= {"CT", "MR", "US", "CR", "DX", "MG", "PT", "NM", "XA"}


def test_same_seed_same_bytes_other_seed_other_bytes():
    for kind in ("CT", "MR", "US-CINE", "MG", "XA"):
        study, series = KIND_SAMPLES[kind]
        a = instance_bytes(study, series, 1)
        b = instance_bytes(Planner(5, 600, 3).study(study.index), series, 1)
        assert a == b, kind
    one = [d for _, d in study_files(Planner(11, 5, 2).study(3))]
    two = [d for _, d in study_files(Planner(11, 5, 2).study(3))]
    other = [d for _, d in study_files(Planner(12, 5, 2).study(3))]
    assert one == two
    assert one != other


def test_compressed_syntaxes_are_deterministic_and_lossless():
    study, series = KIND_SAMPLES["CT"]
    original = dataset(study, series, 1).pixel_array
    for compression, ts in (
        ("rle", "1.2.840.10008.1.2.5"),
        ("j2k", "1.2.840.10008.1.2.4.90"),
        ("jpeg-ls", "1.2.840.10008.1.2.4.80"),
    ):
        blob = to_bytes(encode(dataset(study, series, 1), compression))
        assert blob == to_bytes(encode(dataset(study, series, 1), compression)), compression
        ds = pydicom.dcmread(BytesIO(blob))
        assert ds.file_meta.TransferSyntaxUID == ts
        assert np.array_equal(ds.pixel_array, original), compression
    with pytest.raises(ValueError, match="unknown compression"):
        encode(dataset(study, series, 1), "gif")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_pixels_decode_match_header_and_are_not_uniform(kind):
    study, series = KIND_SAMPLES[kind]
    ds = pydicom.dcmread(BytesIO(instance_bytes(study, series, 1)))
    arr = ds.pixel_array
    k = KINDS[kind]
    assert arr.shape == ((k.frames, k.rows, k.columns) if k.frames else (k.rows, k.columns))
    assert arr.dtype.itemsize * 8 == ds.BitsAllocated
    assert int(arr.max()) < 2**ds.BitsStored
    assert float(arr.std()) > 5.0, "an image, not a flat field"
    # more than a handful of grey levels, and structure: the centre differs from the corner
    assert len(np.unique(arr)) > 50
    flat = arr if arr.ndim == 2 else arr[arr.shape[0] // 2]
    h, w = flat.shape
    assert (
        abs(
            float(flat[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].mean())
            - float(flat[: h // 8, : w // 8].mean())
        )
        > 3
    )


def test_ct_hounsfield_units_are_plausible():
    study, series = next(
        (st, se)
        for st in Planner(5, 600, 24)
        for se in st.series
        if se.kind == "CT" and se.body_part == "CHEST"
    )
    ds = dataset(study, series, (series.n_instances + 1) // 2)
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert hu.min() < -900  # air around the patient
    assert hu.max() > 600  # bone
    assert ((hu > -900) & (hu < -600)).mean() > 0.05  # lungs
    assert ((hu > 0) & (hu < 100)).mean() > 0.05  # soft tissue


def test_ct_series_geometry_is_consistent():
    study, series = next((st, se) for st in Planner(5, 600, 0) for se in st.series if se.kind == "CT")
    headers = [dataset(study, series, n, with_pixels=False) for n in range(1, series.n_instances + 1)]
    iop = np.array(headers[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    positions = np.array([h.ImagePositionPatient for h in headers], dtype=float)
    locations = np.array([float(h.SliceLocation) for h in headers])
    spacing = float(headers[0].SliceThickness)
    assert all(np.allclose(h.ImageOrientationPatient, iop) for h in headers)
    assert len({h.FrameOfReferenceUID for h in headers}) == 1
    assert len({h.SOPInstanceUID for h in headers}) == len(headers)
    steps = np.diff(positions, axis=0)
    assert np.allclose(steps, spacing * normal, atol=1e-3), "slices one spacing apart along the normal"
    assert np.allclose(positions @ normal, locations, atol=1e-2), "SliceLocation = position along the normal"
    assert [int(h.InstanceNumber) for h in headers] == list(range(1, len(headers) + 1))
    # every series of the session (scout, reconstructions, the PET of a PET/CT) shares the frame of reference
    pet = next(st for st in Planner(5, 600, 1) if st.procedure.modality == "PT")
    frames = {dataset(pet, se, 1, with_pixels=False).FrameOfReferenceUID for se in pet.series}
    assert len(frames) == 1 and {se.modality for se in pet.series} == {"CT", "PT"}


def test_every_dataset_says_it_is_fictitious():
    for study, series in KIND_SAMPLES.values():
        ds = dataset(study, series, 1, with_pixels=False)
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethod
        assert ds.PatientComments == FICTITIOUS_MARKER
        assert ds.ImageComments == FICTITIOUS_MARKER


def test_plan_is_realistic():
    planner = Planner(3, 4000)
    studies = list(planner)
    assert len(studies) == 4000
    assert len({s.uid for s in studies}) == 4000
    assert len({s.accession for s in studies}) == 4000
    # several studies per patient, in chronological order (priors)
    by_patient: dict[str, list[StudyPlan]] = {}
    for s in studies:
        by_patient.setdefault(s.patient.patient_id, []).append(s)
    assert len(by_patient) == planner.n_patients < 3000
    assert sum(1 for v in by_patient.values() if len(v) > 1) > len(by_patient) * 0.4
    for v in by_patient.values():
        dates = [s.date for s in v]
        assert dates == sorted(dates)
        assert all(s.date > s.patient.birth_date for s in v)
    # modalities in proportion (projection radiography dominates)
    share = Counter(s.procedure.modality for s in studies)
    for modality, weight in MODALITY_WEIGHTS.items():
        assert abs(share[modality] / len(studies) - weight) < 0.05, modality
    # weekdays and office hours dominate; years spread
    days = [date(int(s.date[:4]), int(s.date[4:6]), int(s.date[6:])) for s in studies]
    assert sum(d.weekday() < 5 for d in days) / len(days) > 0.85
    assert sum(7 <= int(s.time[:2]) < 19 for s in studies) / len(studies) > 0.8
    assert len({d.year for d in days}) >= 10
    # mammography only for women
    assert all(s.patient.sex == "F" for s in studies if s.procedure.modality == "MG")
    # descriptions fit modality and body part
    assert all(s.description.split()[0] in ("XR", s.procedure.modality, "PET/CT", "ECHO") for s in studies)


def test_study_plan_does_not_depend_on_the_others():
    full = list(Planner(9, 300))
    alone = Planner(9, 300)
    for i in (0, 17, 150, 299):
        assert alone.study(i) == full[i]
    with pytest.raises(IndexError):
        alone.study(300)


def test_line_template_renders_like_format_map():
    fmt = "{A}\\t{{literal}}\\t{B_J}{A}"
    values = {"A": "x", "B_J": "y\\\\z"}
    assert bulk.Line(fmt).render(values) == fmt.format_map(values)
    assert bulk.Line("no fields").render({}) == "no fields"


def test_bulk_chunks_cover_every_patient_once():
    planner = Planner(4, 1000)
    chunks = bulk.chunk_patients(planner, 64)
    covered = [p for c in chunks for p in c]
    assert covered == list(range(planner.n_patients))
    sizes = [sum(len(planner.patient_studies(p)) for p in c) for c in chunks]
    assert sum(sizes) == 1000
    assert max(sizes) < 64 + 8  # whole patients: at most one patient's studies over the chunk size
