"""The workspace schema: every table of every stage, as numbered migrations applied once.

``meta.schema_version`` holds the number of the last migration applied. Opening a workspace
applies the missing ones in one transaction under the workspace lock (so two processes never
migrate at once); a workspace written by a newer workbench is refused with both versions named.

1. the core tables every workspace had from the first release;
2. every table the stages used to create on demand, and every shape older workspaces have:
   columns added later (compared with this module's tables, column by column), the ``labels``
   table whose CHECK predates feedback labels, and a ``labels_v2`` left by that rebuild;
3. the team-at-once change: runs are complete only after their last transaction
   (``runs.complete``), and a change counter every write transaction bumps;
4. versioned evaluation truth: the fingerprint of the labels an evaluation was scored on
   (``evaluations.truth``, ``runs.truth``; :mod:`workbench.runs.truth`);
5. reviewer quality: gold items and reviewers' answers on them (:mod:`workbench.loop.gold`);
6. sliced tables (embeddings, photos, maps) lose their primary key (:mod:`workbench.store.slices`);
7. feedback apart from the catalog: the products
   seen only through feedback (the API's and the seller's page's) in ``feedback_products`` until a
   reviewer confirms them, the feedback's channel, the model's probability of the chosen
   category, "none fits" and who confirmed it (:mod:`workbench.loop.feedback`).
8. taxonomy changes: the log of versioned, reversible changes and the stored paths each one
   rewrote (:mod:`workbench.loop.taxonomy_changes`).
9. the retraining cycle: each cycle's state and every decision it took (:mod:`workbench.service.cycle`).
"""

from __future__ import annotations

from typing import Callable

import duckdb

CORE_DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS sources (
    fingerprint VARCHAR PRIMARY KEY, path VARCHAR, dataset VARCHAR, mapping JSON,
    options JSON, accepted BIGINT, rejected BIGINT, ingested_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS products (
    product_id VARCHAR PRIMARY KEY, title VARCHAR, title_raw VARCHAR,
    description VARCHAR, description_raw VARCHAR, brand VARCHAR, price DOUBLE, price_currency VARCHAR,
    category_raw VARCHAR, category_path VARCHAR, title_key VARCHAR, leaf VARCHAR, department VARCHAR, image VARCHAR,
    extra JSON, label_source VARCHAR, source VARCHAR, ingested_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS rejects (
    source VARCHAR, row_number BIGINT, product_id VARCHAR, reason VARCHAR, raw JSON);
CREATE TABLE IF NOT EXISTS categories (
    node_id VARCHAR PRIMARY KEY, name VARCHAR, parent_id VARCHAR, level INTEGER,
    level_name VARCHAR, is_leaf BOOLEAN, n_products BIGINT);
CREATE TABLE IF NOT EXISTS category_merges (original VARCHAR PRIMARY KEY, merged_into VARCHAR, n_products BIGINT);
CREATE TABLE IF NOT EXISTS splits (
    kind VARCHAR, product_id VARCHAR, part VARCHAR, PRIMARY KEY (kind, product_id));
"""

STAGE_DDL = """
CREATE TABLE IF NOT EXISTS warnings (
    source VARCHAR, row_number BIGINT, product_id VARCHAR, field VARCHAR, kind VARCHAR, reason VARCHAR, raw JSON);
CREATE TABLE IF NOT EXISTS taxonomy_mappings (
    catalog_node VARCHAR, target_kind VARCHAR, target_node VARCHAR, target_id VARCHAR,
    score DOUBLE, alternatives JSON, method VARCHAR, status VARCHAR, proposed_at TIMESTAMP,
    reviewer VARCHAR, reviewed_at TIMESTAMP, PRIMARY KEY (catalog_node, target_kind));
CREATE TABLE IF NOT EXISTS product_embeddings (
    product_id VARCHAR, model VARCHAR, text_hash VARCHAR, template VARCHAR, embedded_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS product_images (
    product_id VARCHAR, model VARCHAR, image VARCHAR, location VARCHAR, image_hash VARCHAR,
    status VARCHAR, checked_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS category_neighbours (
    leaf VARCHAR, neighbour VARCHAR, rank INTEGER, similarity DOUBLE);
CREATE TABLE IF NOT EXISTS projection (product_id VARCHAR, model VARCHAR, x DOUBLE, y DOUBLE);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, model VARCHAR, split VARCHAR, department VARCHAR,
    params JSON, data_fingerprint VARCHAR, split_fingerprint VARCHAR, sample BIGINT,
    started_at TIMESTAMP, train_seconds DOUBLE, peak_memory_mb DOUBLE, metrics JSON,
    artifact_dir VARCHAR, parent_run VARCHAR, label_sources VARCHAR);
CREATE TABLE IF NOT EXISTS predictions (
    run_id VARCHAR, part VARCHAR, product_id VARCHAR, true_leaf VARCHAR,
    rank INTEGER, leaf VARCHAR, proba DOUBLE);
CREATE TABLE IF NOT EXISTS evaluations (
    run_id VARCHAR, part VARCHAR, metrics JSON, evaluated_at TIMESTAMP, PRIMARY KEY (run_id, part));
CREATE TABLE IF NOT EXISTS eval_curve (
    run_id VARCHAR, part VARCHAR, threshold DOUBLE, coverage DOUBLE, accuracy DOUBLE, n_covered BIGINT);
CREATE TABLE IF NOT EXISTS eval_per_leaf (
    run_id VARCHAR, part VARCHAR, leaf VARCHAR, precision DOUBLE, recall DOUBLE, f1 DOUBLE,
    support BIGINT, n_predicted BIGINT);
CREATE TABLE IF NOT EXISTS eval_severity (
    run_id VARCHAR, part VARCHAR, distance INTEGER, share DOUBLE, n BIGINT);
CREATE TABLE IF NOT EXISTS eval_calibration (
    run_id VARCHAR, part VARCHAR, bin INTEGER, lower DOUBLE, upper DOUBLE, mean_confidence DOUBLE,
    accuracy DOUBLE, count BIGINT);
CREATE TABLE IF NOT EXISTS eval_level_accuracy (
    run_id VARCHAR, part VARCHAR, level INTEGER, level_name VARCHAR, accuracy DOUBLE, n BIGINT,
    precision_macro DOUBLE, recall_macro DOUBLE, f1_macro DOUBLE,
    precision_micro DOUBLE, recall_micro DOUBLE, f1_micro DOUBLE);
CREATE TABLE IF NOT EXISTS eval_per_node (
    run_id VARCHAR, part VARCHAR, level INTEGER, node VARCHAR, precision DOUBLE, recall DOUBLE,
    f1 DOUBLE, support BIGINT, n_predicted BIGINT);
CREATE TABLE IF NOT EXISTS eval_confusion (
    run_id VARCHAR, part VARCHAR, true_leaf VARCHAR, predicted_leaf VARCHAR, n BIGINT);
CREATE TABLE IF NOT EXISTS eval_worst_errors (
    run_id VARCHAR, part VARCHAR, product_id VARCHAR, true_leaf VARCHAR, predicted_leaf VARCHAR,
    confidence DOUBLE, distance INTEGER);
CREATE TABLE IF NOT EXISTS eval_category_thresholds (
    run_id VARCHAR, part VARCHAR, target DOUBLE, "by" VARCHAR, node VARCHAR, support BIGINT,
    threshold DOUBLE, source VARCHAR, coverage DOUBLE, accuracy DOUBLE, n_covered BIGINT);
CREATE SEQUENCE IF NOT EXISTS serving_events_seq;
CREATE TABLE IF NOT EXISTS serving_events (
    event_id BIGINT DEFAULT nextval('serving_events_seq'),
    event VARCHAR CHECK (event IN ('promote', 'refuse', 'shadow', 'shadow_off')),
    run_id VARCHAR, previous_run_id VARCHAR, valid_accuracy DOUBLE, previous_valid_accuracy DOUBLE,
    n_compared BIGINT, min_accuracy DOUBLE, forced BOOLEAN, reasons JSON, note VARCHAR,
    actor VARCHAR, event_at TIMESTAMP);
CREATE SEQUENCE IF NOT EXISTS labels_seq;
CREATE TABLE IF NOT EXISTS labels (
    label_id BIGINT DEFAULT nextval('labels_seq'), product_id VARCHAR, leaf VARCHAR,
    source VARCHAR CHECK (source IN ('catalog', 'human', 'model', 'feedback')), actor VARCHAR,
    created_at TIMESTAMP, reason VARCHAR, run_id VARCHAR, review_id BIGINT,
    retracted BOOLEAN DEFAULT FALSE);
CREATE TABLE IF NOT EXISTS thresholds (
    scope VARCHAR CHECK (scope IN ('global', 'category')), node VARCHAR, threshold DOUBLE,
    published_by VARCHAR, published_at TIMESTAMP, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS threshold_history (
    version INTEGER, scope VARCHAR, node VARCHAR, threshold DOUBLE,
    published_by VARCHAR, published_at TIMESTAMP, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS classifications (
    product_id VARCHAR, run_id VARCHAR, leaf VARCHAR, proba DOUBLE, margin DOUBLE, top5 JSON,
    decision VARCHAR CHECK (decision IN ('shelved', 'review')), threshold DOUBLE,
    classified_at TIMESTAMP, batch_date DATE);
CREATE TABLE IF NOT EXISTS review_queue (
    queue_date DATE, product_id VARCHAR, reason VARCHAR, rank INTEGER,
    status VARCHAR DEFAULT 'pending', run_id VARCHAR, predicted_leaf VARCHAR, proba DOUBLE,
    in_random BOOLEAN, detail JSON, claimed_by VARCHAR, claimed_at TIMESTAMP, built_at TIMESTAMP);
CREATE SEQUENCE IF NOT EXISTS reviews_seq;
CREATE TABLE IF NOT EXISTS reviews (
    review_id BIGINT DEFAULT nextval('reviews_seq'), product_id VARCHAR, queue_date DATE,
    reason VARCHAR, decision VARCHAR CHECK (decision IN ('accept', 'correct')),
    predicted_leaf VARCHAR, final_leaf VARCHAR, reviewer VARCHAR, reviewed_at TIMESTAMP,
    undone BOOLEAN DEFAULT FALSE, undone_at TIMESTAMP, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id VARCHAR PRIMARY KEY, prediction_id VARCHAR, product_id VARCHAR, received_at TIMESTAMP,
    key_name VARCHAR, actor VARCHAR, accepted BOOLEAN, category VARCHAR, predicted VARCHAR,
    run_id VARCHAR, rank INTEGER, imported_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS label_issues (
    run_id VARCHAR, product_id VARCHAR, rank INTEGER, given_leaf VARCHAR, suggested_leaf VARCHAR,
    score DOUBLE, given_proba DOUBLE, suggested_proba DOUBLE, method VARCHAR, found_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS training_sets (
    run_id VARCHAR, product_id VARCHAR, part VARCHAR, leaf VARCHAR, label_source VARCHAR);
"""

TEAM_DDL = """
ALTER TABLE runs ADD COLUMN IF NOT EXISTS complete BOOLEAN DEFAULT TRUE;
INSERT INTO meta VALUES ('change_counter', '0') ON CONFLICT DO NOTHING;
"""


def _labels_take_feedback(cur: duckdb.DuckDBPyConnection) -> None:
    """Rebuild a ``labels`` table whose CHECK predates feedback labels (DuckDB cannot alter a
    CHECK), and finish a rebuild an older version left as ``labels_v2``."""
    tables = {r[0] for r in cur.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "labels_v2" in tables:
        if "labels" in tables:
            cur.execute("DROP TABLE labels_v2")
        else:
            cur.execute("ALTER TABLE labels_v2 RENAME TO labels")
    checks = [str(r[0]) for r in cur.execute(
        "SELECT expression FROM duckdb_constraints() WHERE table_name = 'labels' AND constraint_type = 'CHECK'"
    ).fetchall()]
    if not checks or any("feedback" in c for c in checks):
        return
    columns = ", ".join(r[0] for r in cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'labels' ORDER BY ordinal_position"
    ).fetchall())
    ddl = STAGE_DDL.split("CREATE TABLE IF NOT EXISTS labels (", 1)[1].split(";", 1)[0]
    cur.execute(f"CREATE TABLE labels_v2 ({ddl}")
    cur.execute(f"INSERT INTO labels_v2 ({columns}) SELECT {columns} FROM labels")  # names from the catalog
    cur.execute("DROP TABLE labels")
    cur.execute("ALTER TABLE labels_v2 RENAME TO labels")


def _add_missing_columns(cur: duckdb.DuckDBPyConnection, ddl: str) -> None:
    """Give every table of ``ddl`` the columns an older workspace's copy lacks (with their
    defaults), by comparing with the tables ``ddl`` makes in an empty in-memory database."""
    reference = duckdb.connect(":memory:")
    try:
        reference.execute(ddl)
        wanted = reference.execute(
            "SELECT table_name, column_name, data_type, column_default FROM information_schema.columns "
            "ORDER BY table_name, ordinal_position").fetchall()
    finally:
        reference.close()
    have = {(t, c) for t, c in cur.execute(
        "SELECT table_name, column_name FROM information_schema.columns").fetchall()}
    for table, column, dtype, default in wanted:
        if (table, column) not in have:
            default_sql = f" DEFAULT {default}" if default is not None and "nextval" not in str(default) else ""
            cur.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{column}" {dtype}{default_sql}')


TRUTH_DDL = """
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS truth VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS truth VARCHAR;
"""


GOLD_DDL = """
CREATE TABLE IF NOT EXISTS gold_items (
    product_id VARCHAR PRIMARY KEY, leaf VARCHAR, suggested_leaf VARCHAR,
    source VARCHAR CHECK (source IN ('admin', 'double', 'import')), added_by VARCHAR, added_at TIMESTAMP,
    retired BOOLEAN DEFAULT FALSE);
CREATE SEQUENCE IF NOT EXISTS gold_answers_seq;
CREATE TABLE IF NOT EXISTS gold_answers (
    answer_id BIGINT DEFAULT nextval('gold_answers_seq'), product_id VARCHAR, reviewer VARCHAR,
    leaf VARCHAR, gold_leaf VARCHAR, suggested_leaf VARCHAR, answered_at TIMESTAMP);
"""


FEEDBACK_APART_DDL = """
CREATE TABLE IF NOT EXISTS feedback_products (
    product_id VARCHAR PRIMARY KEY, title VARCHAR, title_raw VARCHAR, description VARCHAR, description_raw VARCHAR,
    brand VARCHAR, price DOUBLE, title_key VARCHAR, image VARCHAR, extra JSON, source VARCHAR,
    received_at TIMESTAMP);
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS channel VARCHAR DEFAULT 'api';
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS chosen_proba DOUBLE;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS none_fits BOOLEAN DEFAULT FALSE;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS confirmed_by VARCHAR;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS confirmed_at TIMESTAMP;
"""

#: the columns a product seen only through feedback keeps (``feedback_products``)
FEEDBACK_PRODUCT_COLUMNS = ("product_id, title, title_raw, description, description_raw, brand, price, title_key, "
                            "image, extra, source")


def _feedback_apart(cur: duckdb.DuckDBPyConnection) -> None:
    """Feedback lives apart from the catalog: the products earlier versions put in ``products``
    for API feedback, and no reviewer labelled since, move to ``feedback_products``."""
    cur.execute(FEEDBACK_APART_DDL)
    moved = ("SELECT product_id FROM products WHERE source LIKE 'api feedback%' "
             "AND (label_source IS NULL OR label_source = 'model')")
    cur.execute(f"INSERT INTO feedback_products ({FEEDBACK_PRODUCT_COLUMNS}, received_at) "
                f"SELECT {FEEDBACK_PRODUCT_COLUMNS}, ingested_at FROM products WHERE product_id IN ({moved}) "
                "AND product_id NOT IN (SELECT product_id FROM feedback_products)")
    for table in ("splits", "classifications", "review_queue"):
        cur.execute(f"DELETE FROM {table} WHERE product_id IN (SELECT product_id FROM feedback_products)")
    cur.execute("DELETE FROM products WHERE product_id IN (SELECT product_id FROM feedback_products)")


TAXONOMY_CHANGES_DDL = """
CREATE TABLE IF NOT EXISTS taxonomy_changes (
    version INTEGER PRIMARY KEY, op VARCHAR, arguments JSON, path_map JSON, review_nodes JSON,
    flags JSON, counts JSON, snapshot JSON, actor VARCHAR, changed_at TIMESTAMP,
    undone_by INTEGER, undoes INTEGER);
CREATE TABLE IF NOT EXISTS taxonomy_rewrites (
    version INTEGER, tbl VARCHAR, row_key JSON, col VARCHAR, old_value VARCHAR, new_value VARCHAR);
"""

CYCLE_DDL = """
CREATE SEQUENCE IF NOT EXISTS cycles_seq;
CREATE TABLE IF NOT EXISTS cycles (
    cycle_id BIGINT DEFAULT nextval('cycles_seq'), state VARCHAR, started_at TIMESTAMP, started_by VARCHAR,
    "trigger" JSON, serving_run_id VARCHAR, candidate_run_ids JSON, candidate_run_id VARCHAR,
    shadow_since TIMESTAMP, updated_at TIMESTAMP, finished_at TIMESTAMP, outcome VARCHAR, reason VARCHAR);
CREATE SEQUENCE IF NOT EXISTS cycle_events_seq;
CREATE TABLE IF NOT EXISTS cycle_events (
    event_id BIGINT DEFAULT nextval('cycle_events_seq'), cycle_id BIGINT, event_at TIMESTAMP, step VARCHAR,
    state VARCHAR, outcome VARCHAR, actor VARCHAR, "trigger" VARCHAR, serving_run_id VARCHAR,
    candidate_run_id VARCHAR, figures JSON, message VARCHAR);
"""


def _core(cur: duckdb.DuckDBPyConnection) -> None:
    cur.execute(CORE_DDL)


def _stage_tables(cur: duckdb.DuckDBPyConnection) -> None:
    _labels_take_feedback(cur)
    cur.execute(STAGE_DDL)
    _add_missing_columns(cur, CORE_DDL + STAGE_DDL)


def _team(cur: duckdb.DuckDBPyConnection) -> None:
    cur.execute(TEAM_DDL)


def _truth(cur: duckdb.DuckDBPyConnection) -> None:
    cur.execute(TRUTH_DDL)


def _gold(cur: duckdb.DuckDBPyConnection) -> None:
    cur.execute(GOLD_DDL)


#: tables whose rows are replaced a model at a time by :mod:`workbench.store.slices`
SLICED_TABLES = ("product_embeddings", "product_images", "projection")


def _slices(cur: duckdb.DuckDBPyConnection) -> None:
    """Sliced tables lose their primary key: deleting an old generation from a table with one
    took 2-4 s per 10,000 rows here (the index), without it milliseconds. A slice is written
    from one frame of distinct products, so the key held anyway."""
    for table in SLICED_TABLES:
        keyed = cur.execute("SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database() "
                            "AND table_name = ? AND constraint_type = 'PRIMARY KEY'", [table]).fetchone()[0]
        if keyed:
            cur.execute(f"CREATE TABLE _{table}_unkeyed AS SELECT * FROM {table}")
            cur.execute(f"DROP TABLE {table}")
            cur.execute(f"ALTER TABLE _{table}_unkeyed RENAME TO {table}")
def _taxonomy_changes(cur: duckdb.DuckDBPyConnection) -> None:
    cur.execute(TAXONOMY_CHANGES_DDL)
def _cycle(cur: duckdb.DuckDBPyConnection) -> None:
    cur.execute(CYCLE_DDL)


#: the migrations, in order; ``meta.schema_version`` is the number of the last one applied
MIGRATIONS: list[tuple[str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
    ("core tables", _core),
    ("tables of every stage, columns added later, labels that take feedback", _stage_tables),
    ("complete runs and the change counter", _team),
    ("the truth each evaluation was scored on", _truth),
    ("gold items and reviewers' answers on them", _gold),
    ("embeddings, photos and maps replaced as slices, without a primary key", _slices),
    ("feedback apart from the catalog until a reviewer confirms it", _feedback_apart),
    ("taxonomy changes and the paths they rewrote", _taxonomy_changes),
    ("the retraining cycle's state and decisions", _cycle),
]
SCHEMA_VERSION = len(MIGRATIONS)


def pending(version: int) -> list[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]]:
    """The migrations after ``version``, numbered from 1."""
    return [(i, name, step) for i, (name, step) in enumerate(MIGRATIONS, start=1) if i > version]
