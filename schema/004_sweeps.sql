-- 004_sweeps.sql — sweeps (a grid of runs with a metric), and the shared stages that runs with
-- the same data, seed and autoencoder (and k-means) settings compute once. Applied once, in a
-- transaction, by store_open; it must not contain BEGIN or COMMIT.

-- A sweep: its specification as validated ({"name", "base", "grid", "metric"}, JSON text the
-- store does not read) and the result field its table summarises.
CREATE TABLE sweeps (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL DEFAULT '',
    metric     TEXT    NOT NULL,
    spec       TEXT    NOT NULL,
    created_at REAL    NOT NULL
);

-- The runs of a sweep, one row per point of its grid (point: the index in the order the sweep
-- enumerates its grid). Two points whose runs would be the same run (a SimCLR run ignores the
-- k-means settings) share one run. A run deleted on its own takes its rows with it.
CREATE TABLE sweep_runs (
    sweep_id INTEGER NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    point    INTEGER NOT NULL,
    run_id   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    PRIMARY KEY (sweep_id, point)
) WITHOUT ROWID;
CREATE INDEX sweep_runs_run ON sweep_runs (run_id);

-- A shared stage: the checkpoint that closes the autoencoder (stage 0) or k-means (stage 1)
-- of a run, stored once under its content key (what determines it: the data, the seed, the
-- thread count and the stage's settings, as the caller writes it), for every later run with
-- the same key to start from. seconds: what computing it took (what a reuse saves). run_id:
-- the run that computed it, for people; it is not a reference, and deleting that run keeps
-- the stage while other runs use it.
CREATE TABLE shared_stages (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    key            TEXT    NOT NULL UNIQUE,
    stage          INTEGER NOT NULL CHECK (stage BETWEEN 0 AND 1),
    run_id         INTEGER NOT NULL,
    seconds        REAL    NOT NULL,
    format_version INTEGER NOT NULL,
    crc32          INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    created_at     REAL    NOT NULL,
    -- last, so reading the columns before it never walks the blob's overflow pages
    data           BLOB    NOT NULL
);

-- The pseudo-labels of a shared k-means stage, read by the runs that reused it (a run that
-- computed them keeps its own set in assignments, which a resume may cut).
CREATE TABLE shared_assignments (
    shared_id INTEGER NOT NULL REFERENCES shared_stages (id) ON DELETE CASCADE,
    image     INTEGER NOT NULL,
    cluster   INTEGER NOT NULL,
    label     INTEGER,
    PRIMARY KEY (shared_id, image)
) WITHOUT ROWID;

-- Which runs computed (reused = 0) or reused (reused = 1) which shared stage. A shared stage
-- lives while a run uses it: the trigger below deletes it with its last use, so deleting
-- runs gives its space back.
CREATE TABLE shared_uses (
    run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    shared_id INTEGER NOT NULL REFERENCES shared_stages (id) ON DELETE CASCADE,
    reused    INTEGER NOT NULL CHECK (reused IN (0, 1)),
    created_at REAL   NOT NULL,
    PRIMARY KEY (run_id, shared_id)
) WITHOUT ROWID;
CREATE INDEX shared_uses_stage ON shared_uses (shared_id);

CREATE TRIGGER shared_stage_unused AFTER DELETE ON shared_uses
BEGIN
    DELETE FROM shared_stages WHERE id = OLD.shared_id
        AND NOT EXISTS (SELECT 1 FROM shared_uses WHERE shared_id = OLD.shared_id);
END;
