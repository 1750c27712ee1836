"""Portal: maintained analytics counters, and the indexes the study list adds (``study_time`` sort, MRN and
accession prefix wildcards).

Counters are kept by statement-level triggers on ``studies`` and ``series`` (with transition tables), so every
write path is counted (ingest, bulk synthetic loads, deletes) without touching ``pacs.index.writes``. To keep
concurrent ingest free of hot-row locks the triggers only *append* aggregated deltas to ``analytics_deltas``;
readers fold the pending deltas into ``analytics_counters`` (one folder at a time, under a transaction-scoped
advisory lock, which works behind a transaction pooler) and then read the counters.

Dimensions (``analytics_counters.dimension``; ``key``):
- ``total`` (``''``): studies, instances, bytes in the archive
- ``modality`` (Modality): studies that contain it, instances and bytes of its series
- ``study_date`` (StudyDate, ``YYYYMMDD``): studies
- ``referring`` (ReferringPhysicianName), ``institution`` (InstitutionName): studies
- ``ingest_minute`` (``YYYY-MM-DDTHH:MM`` UTC) and ``ingest_day`` (``YYYY-MM-DD`` UTC): studies created,
  instances and bytes added

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_STUDY_COLS = "number_of_instances, size_bytes, modalities_in_study, study_date, referring_physician_name, institution_name"
_SERIES_COLS = "modality, number_of_instances, size_bytes"


def _rows(op: str, cols: str) -> str:
    """The firing statement's rows, signed: new rows +1, old rows -1."""
    new = f"SELECT 1::bigint AS sign, {cols} FROM new_rows"
    old = f"SELECT -1::bigint AS sign, {cols} FROM old_rows"
    return {"INSERT": new, "DELETE": old, "UPDATE": f"{new} UNION ALL {old}"}[op]


def _study_deltas(op: str) -> str:
    ingest = ""
    if op != "DELETE":
        created = "sign" if op == "INSERT" else "0"  # studies created count as ingested studies
        ingest = f"""
            UNION ALL SELECT 'ingest_minute', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'),
                   {created}, sign * number_of_instances, sign * size_bytes FROM d
            UNION ALL SELECT 'ingest_day', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                   {created}, sign * number_of_instances, sign * size_bytes FROM d"""
    return f"""
        WITH d AS MATERIALIZED ({_rows(op, _STUDY_COLS)})
        INSERT INTO analytics_deltas (dimension, key, studies, instances, bytes)
        SELECT dimension, key, sum(s), sum(i), sum(b) FROM (
            SELECT 'total' AS dimension, '' AS key, sign AS s, sign * number_of_instances AS i,
                   sign * size_bytes AS b FROM d
            UNION ALL SELECT 'modality', m, sign, 0, 0 FROM d, unnest(d.modalities_in_study) AS m WHERE m <> ''
            UNION ALL SELECT 'study_date', study_date, sign, 0, 0 FROM d
            UNION ALL SELECT 'referring', referring_physician_name, sign, 0, 0 FROM d
                WHERE referring_physician_name <> ''
            UNION ALL SELECT 'institution', institution_name, sign, 0, 0 FROM d WHERE institution_name <> ''{ingest}
        ) x
        GROUP BY dimension, key
        HAVING sum(s) <> 0 OR sum(i) <> 0 OR sum(b) <> 0"""


def _series_deltas(op: str) -> str:
    return f"""
        WITH d AS MATERIALIZED ({_rows(op, _SERIES_COLS)})
        INSERT INTO analytics_deltas (dimension, key, studies, instances, bytes)
        SELECT 'modality', modality, 0, sum(sign * number_of_instances), sum(sign * size_bytes)
        FROM d WHERE modality <> ''
        GROUP BY modality
        HAVING sum(sign * number_of_instances) <> 0 OR sum(sign * size_bytes) <> 0"""


def _trigger_function(name: str, op: str, body: str) -> str:
    """A plpgsql statement-trigger function with static SQL (its plan is cached per session).

    An empty firing statement (``INSERT ... ON CONFLICT`` that only updated, say) returns at once.
    """
    rows = "old_rows" if op == "DELETE" else "new_rows"
    return f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM {rows}) THEN
                RETURN NULL;
            END IF;
            {body};
            RETURN NULL;
        END
        $fn$;
    """


_OPS = {"INSERT": "ins", "UPDATE": "upd", "DELETE": "del"}


def upgrade() -> None:
    op.execute(
        """
        CREATE INDEX studies_study_time ON studies (study_time, id);
        -- LIKE 'abc%' on MRN / accession (the database collation may not be "C", so the (col, id) B-trees
        -- of 0001 cannot serve prefix wildcards)
        CREATE INDEX studies_patient_id_pattern ON studies (patient_id text_pattern_ops);
        CREATE INDEX studies_accession_pattern ON studies (accession_number text_pattern_ops);
        -- the default sort (study date) covering what the list filters read: a bounded walk that filters
        -- is an index-only scan (pacs.index.studylist.COVERING)
        CREATE INDEX studies_list_cover ON studies (study_date, study_time, id)
            INCLUDE (patient_name_norm, referring_physician_name_norm, study_description_norm, patient_id,
                     accession_number, modalities_in_study);

        CREATE TABLE analytics_counters (
            dimension   text NOT NULL,
            key         text NOT NULL,
            studies     bigint NOT NULL DEFAULT 0,
            instances   bigint NOT NULL DEFAULT 0,
            bytes       bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (dimension, key)
        );
        CREATE INDEX analytics_counters_top ON analytics_counters (dimension, studies DESC, key);

        CREATE TABLE analytics_deltas (
            id          bigserial PRIMARY KEY,
            dimension   text NOT NULL,
            key         text NOT NULL,
            studies     bigint NOT NULL DEFAULT 0,
            instances   bigint NOT NULL DEFAULT 0,
            bytes       bigint NOT NULL DEFAULT 0
        );
        -- a queue: rows are deleted by every fold; keep it vacuumed so that "anything pending?" stays cheap
        ALTER TABLE analytics_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
                                          autovacuum_vacuum_cost_delay = 0);
        """
    )
    for tg_op, short in _OPS.items():
        op.execute(_trigger_function(f"analytics_studies_{short}", tg_op, _study_deltas(tg_op)))
        op.execute(_trigger_function(f"analytics_series_{short}", tg_op, _series_deltas(tg_op)))
    op.execute(
        """
        CREATE FUNCTION analytics_reset() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            TRUNCATE analytics_counters, analytics_deltas;
            RETURN NULL;
        END
        $fn$;

        CREATE TRIGGER analytics_studies_ins AFTER INSERT ON studies
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_studies_ins();
        CREATE TRIGGER analytics_studies_upd AFTER UPDATE ON studies
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION analytics_studies_upd();
        CREATE TRIGGER analytics_studies_del AFTER DELETE ON studies
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_studies_del();
        CREATE TRIGGER analytics_studies_trunc AFTER TRUNCATE ON studies
            FOR EACH STATEMENT EXECUTE FUNCTION analytics_reset();

        CREATE TRIGGER analytics_series_ins AFTER INSERT ON series
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_series_ins();
        CREATE TRIGGER analytics_series_upd AFTER UPDATE ON series
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION analytics_series_upd();
        CREATE TRIGGER analytics_series_del AFTER DELETE ON series
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_series_del();
        """
    )
    # Existing archives: start the counters from what is there (ingest history is not reconstructed).
    op.execute(
        """
        INSERT INTO analytics_counters (dimension, key, studies, instances, bytes)
        SELECT 'total', '', count(*), coalesce(sum(number_of_instances), 0), coalesce(sum(size_bytes), 0)
        FROM studies HAVING count(*) > 0;
        INSERT INTO analytics_counters (dimension, key, studies)
        SELECT 'study_date', study_date, count(*) FROM studies GROUP BY study_date;
        INSERT INTO analytics_counters (dimension, key, studies)
        SELECT 'referring', referring_physician_name, count(*) FROM studies
        WHERE referring_physician_name <> '' GROUP BY referring_physician_name;
        INSERT INTO analytics_counters (dimension, key, studies)
        SELECT 'institution', institution_name, count(*) FROM studies
        WHERE institution_name <> '' GROUP BY institution_name;
        INSERT INTO analytics_counters (dimension, key, studies, instances, bytes)
        SELECT 'modality', m.modality, coalesce(st.n, 0), m.i, m.b FROM
            (SELECT modality, sum(number_of_instances) AS i, sum(size_bytes) AS b FROM series
             WHERE modality <> '' GROUP BY modality) m
            LEFT JOIN (SELECT x AS modality, count(*) AS n FROM studies, unnest(modalities_in_study) AS x
                       GROUP BY x) st USING (modality);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER IF EXISTS analytics_studies_ins ON studies;
        DROP TRIGGER IF EXISTS analytics_studies_upd ON studies;
        DROP TRIGGER IF EXISTS analytics_studies_del ON studies;
        DROP TRIGGER IF EXISTS analytics_studies_trunc ON studies;
        DROP TRIGGER IF EXISTS analytics_series_ins ON series;
        DROP TRIGGER IF EXISTS analytics_series_upd ON series;
        DROP TRIGGER IF EXISTS analytics_series_del ON series;
        DROP FUNCTION IF EXISTS analytics_studies_ins(), analytics_studies_upd(), analytics_studies_del(),
            analytics_series_ins(), analytics_series_upd(), analytics_series_del(), analytics_reset();
        DROP TABLE IF EXISTS analytics_counters, analytics_deltas;
        DROP INDEX IF EXISTS studies_study_time, studies_patient_id_pattern, studies_accession_pattern,
            studies_list_cover;
        """
    )
