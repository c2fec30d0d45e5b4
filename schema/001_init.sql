-- 001_init.sql — gsimclrd's first schema: runs and what they own. Applied once, in a
-- transaction, by store_open; schema_version (created by store.c) records it. A migration
-- must not contain BEGIN or COMMIT: store_open wraps each one in its own transaction.
CREATE TABLE runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    status           TEXT    NOT NULL CHECK (status IN ('queued','running','succeeded','failed','canceled')),
    method           TEXT    NOT NULL,
    name             TEXT    NOT NULL DEFAULT '',
    config           TEXT    NOT NULL,            -- the full run configuration (JSON)
    result           TEXT,                        -- the pipeline's result (JSON) once succeeded
    error            TEXT,                        -- why it failed
    created_at       REAL    NOT NULL,            -- unix seconds
    started_at       REAL,
    finished_at      REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    resumes          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_status ON runs (status, id);

CREATE TABLE stages (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stage       INTEGER NOT NULL CHECK (stage BETWEEN 0 AND 3), -- 0 dae, 1 kmeans, 2 simclr, 3 eval
    status      TEXT    NOT NULL CHECK (status IN ('pending','running','succeeded','failed','canceled','skipped')),
    epoch       INTEGER NOT NULL DEFAULT 0,
    epochs      INTEGER NOT NULL DEFAULT 0,
    step        INTEGER NOT NULL DEFAULT 0,
    steps       INTEGER NOT NULL DEFAULT 0,
    loss        REAL,
    items_per_s REAL,
    eta_s       REAL,
    seconds     REAL,
    started_at  REAL,
    finished_at REAL,
    PRIMARY KEY (run_id, stage)
) WITHOUT ROWID;

CREATE TABLE metrics (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stage  INTEGER NOT NULL,
    epoch  INTEGER NOT NULL,
    step   INTEGER NOT NULL,                      -- -1 for a per-epoch value
    name   TEXT    NOT NULL,
    value  REAL,
    time   REAL    NOT NULL
);
CREATE INDEX metrics_run ON metrics (run_id, stage, name, id);
-- "everything after id N" (the event stream's poll) without sorting the run's metrics
CREATE INDEX metrics_run_id ON metrics (run_id, id);

CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    time    REAL    NOT NULL,
    kind    TEXT    NOT NULL,                     -- log, status, resume
    message TEXT    NOT NULL
);
CREATE INDEX events_run ON events (run_id, id);

-- one row per training image: its pseudo-label, and its true label when the data has one
-- (a diagnostic for cluster summaries; training never reads it)
CREATE TABLE assignments (
    run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    image   INTEGER NOT NULL,
    cluster INTEGER NOT NULL,
    label   INTEGER,
    PRIMARY KEY (run_id, image)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stage          INTEGER NOT NULL,
    epoch          INTEGER NOT NULL,
    format_version INTEGER NOT NULL,
    crc32          INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    created_at     REAL    NOT NULL,
    -- last, so reading the columns before it never walks the blob's overflow pages
    data           BLOB    NOT NULL
);
CREATE INDEX checkpoints_run ON checkpoints (run_id, stage, id);
