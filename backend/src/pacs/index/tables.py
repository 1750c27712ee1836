"""SQLAlchemy Core descriptions of the tables created by the Alembic migrations (the migrations are the schema)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

patients = Table(
    "patients",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("patient_id", Text, nullable=False),
    Column("issuer_of_patient_id", Text, nullable=False),
    Column("patient_name", Text, nullable=False),
    Column("patient_name_norm", Text, nullable=False),
    Column("patient_birth_date", Text, nullable=False),
    Column("patient_sex", Text, nullable=False),
    Column("attrs", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

studies = Table(
    "studies",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("study_instance_uid", Text, nullable=False, unique=True),
    Column("patient_fk", BigInteger, ForeignKey("patients.id"), nullable=False),
    Column("patient_id", Text, nullable=False),
    Column("patient_name", Text, nullable=False),
    Column("patient_name_norm", Text, nullable=False),
    Column("patient_birth_date", Text, nullable=False),
    Column("patient_sex", Text, nullable=False),
    Column("study_date", Text, nullable=False),
    Column("study_time", Text, nullable=False),
    Column("accession_number", Text, nullable=False),
    Column("study_id", Text, nullable=False),
    Column("study_description", Text, nullable=False),
    Column("study_description_norm", Text, nullable=False),
    Column("referring_physician_name", Text, nullable=False),
    Column("referring_physician_name_norm", Text, nullable=False),
    Column("institution_name", Text, nullable=False),
    Column("specific_character_set", Text, nullable=False),
    Column("timezone_offset_from_utc", Text, nullable=False),
    Column("modalities_in_study", ARRAY(Text), nullable=False),
    Column("number_of_series", Integer, nullable=False),
    Column("number_of_instances", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("attrs", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

series = Table(
    "series",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("series_instance_uid", Text, nullable=False, unique=True),
    Column("study_fk", BigInteger, ForeignKey("studies.id"), nullable=False),
    Column("modality", Text, nullable=False),
    Column("series_number", Integer),
    Column("series_description", Text, nullable=False),
    Column("body_part_examined", Text, nullable=False),
    Column("series_date", Text, nullable=False),
    Column("series_time", Text, nullable=False),
    Column("performed_procedure_step_start_date", Text, nullable=False),
    Column("performed_procedure_step_start_time", Text, nullable=False),
    Column("number_of_instances", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("attrs", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

instances = Table(
    "instances",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("sop_instance_uid", Text, nullable=False, unique=True),
    Column("series_fk", BigInteger, ForeignKey("series.id"), nullable=False),
    Column("study_fk", BigInteger, ForeignKey("studies.id"), nullable=False),
    Column("sop_class_uid", Text, nullable=False),
    Column("instance_number", Integer),
    Column("transfer_syntax_uid", Text, nullable=False),
    Column("rows", Integer),
    Column("columns", Integer),
    Column("bits_allocated", Integer),
    Column("number_of_frames", Integer),
    Column("storage_key", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

TABLES = {"patients": patients, "studies": studies, "series": series, "instances": instances}
