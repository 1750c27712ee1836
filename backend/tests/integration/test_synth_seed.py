"""Demo seeding through the ingest path: study-level counts match the plan; idempotent, resumable, polite."""

from __future__ import annotations

from pathlib import Path

import pydicom
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from pacs.cli import app
from pacs.services import Services
from pacs.synth.demo import DEMO_MAX_INSTANCES, seed_if_empty, seed_studies
from pacs.synth.plan import FICTITIOUS_MARKER, Planner
from tests.conftest import make_settings, truncate_all
from tests.dicomfactory import ct_bytes


def _studies(url: str) -> dict[str, dict]:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with eng.connect() as conn:
        rows = {
            r["study_instance_uid"]: dict(r) for r in conn.execute(text("SELECT * FROM studies")).mappings()
        }
    eng.dispose()
    return rows


def test_demo_seed_counts_idempotence_and_resumption(database_url, clean_db, tmp_path: Path):
    services = Services.create(make_settings(database_url, tmp_path / "store"))
    try:
        n = 5
        planned = list(Planner(0, n, DEMO_MAX_INSTANCES))
        # an interrupted first start: two studies made it
        assert seed_studies(services, 2) == 2
        assert len(_studies(database_url)) == 2
        # the next start completes the demo, the one after does nothing
        assert seed_if_empty(services, n) == n - 2
        assert seed_if_empty(services, n) == 0
        rows = _studies(database_url)
        assert set(rows) == {s.uid for s in planned}
        for s in planned:
            row = rows[s.uid]
            assert row["number_of_series"] == len(s.series)
            assert row["number_of_instances"] == s.n_instances
            assert row["modalities_in_study"] == s.modalities
            assert row["patient_name"] == s.patient.name
            assert row["accession_number"] == s.accession
            assert row["attrs"]["00104000"]["Value"] == [FICTITIOUS_MARKER]
            assert row["attrs"]["00120062"]["Value"] == ["YES"]
        # the stored objects are the generated ones, byte for byte, through the retrieve service
        from pacs.synth.generate import instance_bytes

        s = planned[0]
        se = s.series[-1]
        (ref,) = services.retrieve.locate(s.uid, se.uid, f"{se.uid}.1")
        assert services.retrieve.read(ref) == instance_bytes(s, se, 1)

        # an archive holding other studies is never seeded
        truncate_all(database_url)
        assert services.ingest.store_one(ct_bytes()).ok
        assert seed_if_empty(services, n) == 0
        assert len(_studies(database_url)) == 1
    finally:
        services.close()


def test_cli_writes_part10_files(tmp_path: Path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["synth", "--studies", "3", "--seed", "8", "--out", str(out), "--max-instances", "2"]
    )
    assert result.exit_code == 0, result.output
    files = sorted(out.rglob("*.dcm"))
    planned = list(Planner(8, 3, 2))
    assert len(files) == sum(s.n_instances for s in planned)
    assert {f.parent.parent.name for f in files} == {s.uid for s in planned}
    ds = pydicom.dcmread(files[0])
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.pixel_array.std() > 0
    # asking for nowhere to put them is a usage error, not a crash
    bad = CliRunner().invoke(app, ["synth", "--studies", "1"])
    assert bad.exit_code == 2
