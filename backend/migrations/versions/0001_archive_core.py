"""Archive core: patients, studies, series, instances, with the indexes QIDO and the study list need.

Designed for a million studies: patient attributes are denormalised onto ``studies`` so that the study list
filters and sorts on one table; every sortable column has a ``(column, id)`` B-tree for keyset pagination;
PatientName matching uses a trigram index on a case- and accent-folded column where ``pg_trgm`` exists.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    has_trgm = conn.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
    ).scalar()
    if has_trgm:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.execute(
        """
        CREATE TABLE patients (
            id                      bigserial PRIMARY KEY,
            patient_id              text NOT NULL DEFAULT '',
            issuer_of_patient_id    text NOT NULL DEFAULT '',
            patient_name            text NOT NULL DEFAULT '',
            patient_name_norm       text NOT NULL DEFAULT '',
            patient_birth_date      text NOT NULL DEFAULT '',
            patient_sex             text NOT NULL DEFAULT '',
            attrs                   jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at              timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT patients_identity UNIQUE (patient_id, issuer_of_patient_id)
        );

        CREATE TABLE studies (
            id                          bigserial PRIMARY KEY,
            study_instance_uid          text NOT NULL UNIQUE,
            patient_fk                  bigint NOT NULL REFERENCES patients(id),
            patient_id                  text NOT NULL DEFAULT '',
            patient_name                text NOT NULL DEFAULT '',
            patient_name_norm           text NOT NULL DEFAULT '',
            patient_birth_date          text NOT NULL DEFAULT '',
            patient_sex                 text NOT NULL DEFAULT '',
            study_date                  text NOT NULL DEFAULT '',
            study_time                  text NOT NULL DEFAULT '',
            accession_number            text NOT NULL DEFAULT '',
            study_id                    text NOT NULL DEFAULT '',
            study_description           text NOT NULL DEFAULT '',
            study_description_norm      text NOT NULL DEFAULT '',
            referring_physician_name    text NOT NULL DEFAULT '',
            referring_physician_name_norm text NOT NULL DEFAULT '',
            institution_name            text NOT NULL DEFAULT '',
            specific_character_set      text NOT NULL DEFAULT '',
            timezone_offset_from_utc    text NOT NULL DEFAULT '',
            modalities_in_study         text[] NOT NULL DEFAULT '{}',
            number_of_series            integer NOT NULL DEFAULT 0,
            number_of_instances         integer NOT NULL DEFAULT 0,
            size_bytes                  bigint NOT NULL DEFAULT 0,
            attrs                       jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at                  timestamptz NOT NULL DEFAULT now(),
            updated_at                  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX studies_patient_fk ON studies (patient_fk);
        CREATE INDEX studies_patient_id ON studies (patient_id, id);
        CREATE INDEX studies_accession_number ON studies (accession_number, id);
        CREATE INDEX studies_study_date ON studies (study_date, study_time, id);
        CREATE INDEX studies_patient_name_norm ON studies (patient_name_norm, id);
        CREATE INDEX studies_patient_birth_date ON studies (patient_birth_date, id);
        CREATE INDEX studies_patient_sex ON studies (patient_sex, id);
        CREATE INDEX studies_study_description ON studies (study_description_norm, id);
        CREATE INDEX studies_referring ON studies (referring_physician_name_norm, id);
        CREATE INDEX studies_modalities_sort ON studies (modalities_in_study, id);
        CREATE INDEX studies_number_of_series ON studies (number_of_series, id);
        CREATE INDEX studies_number_of_instances ON studies (number_of_instances, id);
        CREATE INDEX studies_created_at ON studies (created_at);
        CREATE INDEX studies_modalities_gin ON studies USING gin (modalities_in_study);

        CREATE TABLE series (
            id                      bigserial PRIMARY KEY,
            series_instance_uid     text NOT NULL UNIQUE,
            study_fk                bigint NOT NULL REFERENCES studies(id),
            modality                text NOT NULL DEFAULT '',
            series_number           integer,
            series_description      text NOT NULL DEFAULT '',
            body_part_examined      text NOT NULL DEFAULT '',
            series_date             text NOT NULL DEFAULT '',
            series_time             text NOT NULL DEFAULT '',
            performed_procedure_step_start_date text NOT NULL DEFAULT '',
            performed_procedure_step_start_time text NOT NULL DEFAULT '',
            number_of_instances     integer NOT NULL DEFAULT 0,
            size_bytes              bigint NOT NULL DEFAULT 0,
            attrs                   jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at              timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX series_study_fk ON series (study_fk, series_number, id);
        CREATE INDEX series_modality ON series (modality);

        CREATE TABLE instances (
            id                      bigserial PRIMARY KEY,
            sop_instance_uid        text NOT NULL UNIQUE,
            series_fk               bigint NOT NULL REFERENCES series(id),
            study_fk                bigint NOT NULL REFERENCES studies(id),
            sop_class_uid           text NOT NULL,
            instance_number         integer,
            transfer_syntax_uid     text NOT NULL,
            rows                    integer,
            columns                 integer,
            bits_allocated          integer,
            number_of_frames        integer,
            storage_key             text NOT NULL,
            size_bytes              bigint NOT NULL,
            metadata                jsonb NOT NULL,
            created_at              timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX instances_series_fk ON instances (series_fk, instance_number, id);
        CREATE INDEX instances_study_fk ON instances (study_fk);
        CREATE INDEX instances_sop_class_uid ON instances (sop_class_uid);
        """
    )
    if has_trgm:
        op.execute(
            """
            CREATE INDEX studies_patient_name_trgm ON studies USING gin (patient_name_norm gin_trgm_ops);
            CREATE INDEX studies_description_trgm ON studies USING gin (study_description_norm gin_trgm_ops);
            CREATE INDEX studies_referring_trgm ON studies USING gin (referring_physician_name_norm gin_trgm_ops);
            CREATE INDEX patients_patient_name_trgm ON patients USING gin (patient_name_norm gin_trgm_ops);
            """
        )
    else:
        op.execute(
            """
            CREATE INDEX studies_patient_name_prefix ON studies (patient_name_norm text_pattern_ops);
            CREATE INDEX patients_patient_name_prefix ON patients (patient_name_norm text_pattern_ops);
            """
        )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS instances, series, studies, patients CASCADE")
