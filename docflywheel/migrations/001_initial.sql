-- Rows are written once and never updated in place; ids are content hashes (see docflywheel/records.py).
CREATE TABLE tasks (
    id VARCHAR NOT NULL,
    qualname VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    language VARCHAR NOT NULL,
    package VARCHAR,
    signature VARCHAR,
    code VARCHAR NOT NULL,
    context VARCHAR,
    reference VARCHAR,
    file VARCHAR,
    line INTEGER,
    split VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    created_at TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE generations (
    id VARCHAR NOT NULL,
    task_id VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    base_model VARCHAR,
    adapter VARCHAR,
    model_version VARCHAR,
    role VARCHAR NOT NULL,
    parent_id VARCHAR,
    critique_id VARCHAR,
    prompt_hash VARCHAR NOT NULL,
    sampling JSON,
    seed BIGINT,
    sample_index INTEGER,
    tokens_in INTEGER,
    tokens_out INTEGER,
    latency_s DOUBLE,
    finish_reason VARCHAR,
    iteration INTEGER,
    created_at TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE critiques (
    id VARCHAR NOT NULL,
    generation_id VARCHAR NOT NULL,
    principle_id VARCHAR NOT NULL,
    critique VARCHAR NOT NULL,
    model VARCHAR,
    status VARCHAR NOT NULL DEFAULT 'ok',
    created_at TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE judgments (
    id VARCHAR NOT NULL,
    generation_id VARCHAR NOT NULL,
    generation_b_id VARCHAR,
    judge_kind VARCHAR NOT NULL,
    judge_model VARCHAR,
    judge_prompt_hash VARCHAR,
    judge_version VARCHAR NOT NULL,
    criterion VARCHAR NOT NULL,
    score DOUBLE,
    verdict VARCHAR,
    order_shown VARCHAR,
    rationale VARCHAR,
    evidence JSON,
    status VARCHAR NOT NULL DEFAULT 'ok',
    raw VARCHAR,
    iteration INTEGER,
    created_at TIMESTAMP DEFAULT current_timestamp
);

-- The router's decision per generation: accepted (to curation), review (to people), rejected.
CREATE TABLE routes (
    id VARCHAR NOT NULL,
    generation_id VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,
    score DOUBLE,
    spread DOUBLE,
    reason VARCHAR,
    iteration INTEGER,
    created_at TIMESTAMP DEFAULT current_timestamp
);

-- status: labelled or skipped; a review item is open while it has no row here.
CREATE TABLE human_labels (
    id VARCHAR NOT NULL,
    generation_id VARCHAR NOT NULL,
    generation_b_id VARCHAR,
    criterion VARCHAR NOT NULL,
    score DOUBLE,
    verdict VARCHAR,
    annotator VARCHAR NOT NULL,
    comment VARCHAR,
    status VARCHAR NOT NULL DEFAULT 'labelled',
    created_at TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE datasets (
    id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    filter JSON,
    row_count INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    created_at TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE dataset_rows (
    id VARCHAR NOT NULL,
    dataset_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    task_id VARCHAR,
    data JSON NOT NULL,
    created_at TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE training_runs (
    id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    dataset_id VARCHAR,
    base_model VARCHAR NOT NULL,
    config JSON,
    status VARCHAR NOT NULL,
    metrics JSON,
    artifact_path VARCHAR,
    iteration INTEGER,
    created_at TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE models (
    id VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    base_model VARCHAR NOT NULL,
    adapter VARCHAR,
    version VARCHAR,
    training_run_id VARCHAR,
    role VARCHAR NOT NULL,
    created_at TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE iterations (
    id VARCHAR NOT NULL,
    iteration INTEGER NOT NULL,
    champion_model_id VARCHAR,
    metrics JSON,
    created_at TIMESTAMP DEFAULT current_timestamp
);
