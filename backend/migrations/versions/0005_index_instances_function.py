"""Ingest: index a batch of instances in one call of a server-side function, ``pacs_index_instances``.

The function runs what ``pacs.index.writes`` used to send as separate statements (the existence check, the
upsert of patients, studies, series and instances, the study and series counters, the event notification) in
one round trip. PL/pgSQL keeps the plans of its statements for the life of the server session, so the ingest
statements are planned once per server connection without protocol-level prepared statements: the same gain
directly and behind a transaction-mode pooler (pgbouncer, PgCat), where prepared statements are not safe.

The column lists are the ones :func:`pacs.dicom.attributes.instance_record` produces (plus the storage fields);
a migration that adds an indexed attribute replaces this function with the longer list
(``test_every_attribute_the_record_holds_is_indexed`` in ``tests/integration/test_ingest.py`` checks that
every key the record holds is written).

- Idempotent: an instance already indexed is left as it is and not returned (``ON CONFLICT DO NOTHING``).
- Deadlock-free between concurrent batches: the caller sorts each array by UID and rows are inserted in that
  order. The no-op ``DO UPDATE`` that returns an existing patient's or study's id sets a column outside every
  unique key, so PostgreSQL locks the row FOR NO KEY UPDATE, which does not block the foreign-key checks
  (KEY SHARE) of a concurrent batch for the same patient.
- Counters are incremented (``n = n + delta``), which stays right under concurrent writers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PATIENT = (
    "patient_id, issuer_of_patient_id, patient_name, patient_name_norm, patient_birth_date, patient_sex, attrs"
)
_STUDY = (
    "study_instance_uid, patient_id, patient_name, patient_name_norm, patient_birth_date, patient_sex, "
    "study_date, study_time, accession_number, study_id, study_description, study_description_norm, "
    "referring_physician_name, referring_physician_name_norm, institution_name, specific_character_set, "
    "timezone_offset_from_utc, attrs"
)
_SERIES = (
    "series_instance_uid, modality, series_number, series_description, body_part_examined, series_date, "
    "series_time, performed_procedure_step_start_date, performed_procedure_step_start_time, attrs"
)
_INSTANCE = (
    "sop_instance_uid, sop_class_uid, instance_number, rows, columns, bits_allocated, number_of_frames, "
    "transfer_syntax_uid, storage_key, size_bytes, metadata"
)


def _cols(cols: str) -> str:
    return ", ".join(f"r.{c.strip()}" for c in cols.split(","))


def _rows(param: str, table: str) -> str:
    """The JSON array ``param`` as rows of ``table`` (``r``), with the element (``e.j``) and its position."""
    return (
        f"jsonb_array_elements({param}) WITH ORDINALITY AS e(j, ord) "
        f"CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, e.j) AS r"
    )


def upgrade() -> None:
    op.execute(
        f"""
CREATE FUNCTION pacs_index_instances(
    p_patients jsonb, p_studies jsonb, p_series jsonb, p_instances jsonb, p_channel text
) RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE
    v_new text[];
    v_se_ids bigint[];
    v_se_ns bigint[];
    v_se_ss bigint[];
    v_st_ids bigint[];
    v_st_ns bigint[];
    v_st_ss bigint[];
    v_st_nss bigint[];
    v_st_mods text[];
    v_studies text[];
BEGIN
    -- 1. patients, studies, series, instances: one statement (data-modifying CTEs); each level joins the
    --    rows its parent returned (inserted or already there). Elements carry their parent's key in
    --    _patient_id/_issuer, _study and _series.
    WITH p AS (
        INSERT INTO patients ({_PATIENT})
        SELECT {_cols(_PATIENT)} FROM {_rows("p_patients", "patients")} ORDER BY e.ord
        ON CONFLICT ON CONSTRAINT patients_identity DO UPDATE SET patient_birth_date = patients.patient_birth_date
        RETURNING id, patient_id, issuer_of_patient_id
    ), s AS (
        INSERT INTO studies ({_STUDY}, patient_fk)
        SELECT {_cols(_STUDY)}, p.id FROM {_rows("p_studies", "studies")}
        JOIN p ON p.patient_id = e.j->>'_patient_id' AND p.issuer_of_patient_id = e.j->>'_issuer'
        ORDER BY e.ord
        ON CONFLICT (study_instance_uid) DO UPDATE SET updated_at = now()
        RETURNING id, study_instance_uid
    ), se AS (
        INSERT INTO series ({_SERIES}, study_fk)
        SELECT {_cols(_SERIES)}, s.id FROM {_rows("p_series", "series")}
        JOIN s ON s.study_instance_uid = e.j->>'_study'
        ORDER BY e.ord
        ON CONFLICT (series_instance_uid) DO UPDATE SET modality = EXCLUDED.modality
        RETURNING id, series_instance_uid, study_fk, modality, (xmax = 0) AS inserted
    ), i AS (
        INSERT INTO instances ({_INSTANCE}, series_fk, study_fk)
        SELECT {_cols(_INSTANCE)}, se.id, se.study_fk FROM {_rows("p_instances", "instances")}
        JOIN se ON se.series_instance_uid = e.j->>'_series'
        ORDER BY e.ord
        ON CONFLICT (sop_instance_uid) DO NOTHING
        RETURNING sop_instance_uid, series_fk, study_fk, size_bytes
    ), per_series AS (
        SELECT series_fk AS id, count(*) AS n, sum(size_bytes)::bigint AS sz FROM i GROUP BY series_fk
    ), per_study AS (  -- studies with new instances: their new instances, bytes, new series and modalities
        SELECT i.study_fk AS id, count(*) AS n, sum(i.size_bytes)::bigint AS sz,
               (SELECT count(*) FROM se WHERE se.study_fk = i.study_fk AND se.inserted) AS nss,
               (SELECT coalesce(string_agg(DISTINCT se.modality, '\\'), '') FROM se
                 WHERE se.study_fk = i.study_fk AND se.modality <> ''
                   AND se.id IN (SELECT ps.id FROM per_series ps)) AS mods
        FROM i GROUP BY i.study_fk
    )
    SELECT (SELECT array_agg(sop_instance_uid) FROM i),
           (SELECT array_agg(id ORDER BY id) FROM per_series),
           (SELECT array_agg(n ORDER BY id) FROM per_series),
           (SELECT array_agg(sz ORDER BY id) FROM per_series),
           (SELECT array_agg(id ORDER BY id) FROM per_study),
           (SELECT array_agg(n ORDER BY id) FROM per_study),
           (SELECT array_agg(sz ORDER BY id) FROM per_study),
           (SELECT array_agg(nss ORDER BY id) FROM per_study),
           (SELECT array_agg(mods ORDER BY id) FROM per_study),
           (SELECT array_agg(s.study_instance_uid ORDER BY s.study_instance_uid)
              FROM s WHERE s.id IN (SELECT ps.id FROM per_study ps))
      INTO v_new, v_se_ids, v_se_ns, v_se_ss, v_st_ids, v_st_ns, v_st_ss, v_st_nss, v_st_mods, v_studies;

    IF v_new IS NULL THEN
        RETURN;  -- nothing new: every instance was indexed before
    END IF;

    -- 2. derived attributes, incrementally, in id order (the same lock order in every batch)
    UPDATE series SET number_of_instances = series.number_of_instances + v.n,
                      size_bytes = series.size_bytes + v.s
      FROM unnest(v_se_ids, v_se_ns, v_se_ss) AS v(id, n, s)
     WHERE series.id = v.id;
    UPDATE studies SET number_of_instances = studies.number_of_instances + v.n,
                       size_bytes = studies.size_bytes + v.s,
                       number_of_series = studies.number_of_series + v.ns,
                       modalities_in_study = ARRAY(
                           SELECT DISTINCT m FROM unnest(studies.modalities_in_study || string_to_array(v.mods, '\\')) AS m
                            WHERE m <> '' ORDER BY m),
                       updated_at = now()
      FROM unnest(v_st_ids, v_st_ns, v_st_ss, v_st_nss, v_st_mods) AS v(id, n, s, ns, mods)
     WHERE studies.id = v.id;

    -- 3. other replicas hear of it at commit (works through a transaction-mode pooler)
    PERFORM pg_notify(p_channel, left(json_build_object(
        'type', 'instances_stored', 'count', cardinality(v_new), 'studies', v_studies[1:50])::text, 7900));

    RETURN QUERY SELECT unnest(v_new);
END
$fn$
"""
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION pacs_index_instances(jsonb, jsonb, jsonb, jsonb, text)")
