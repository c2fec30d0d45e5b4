-- 002_positions.sql — every row a run stores belongs to a position in the run, (stage, epoch,
-- step), so that a run resumed from a checkpoint can delete exactly what was stored after it
-- (store_run_resume). step counts the steps done in the stage; -1 is the end of the epoch,
-- after all of its steps. Metrics had their position already. Applied once, in a
-- transaction, by store_open; it must not contain BEGIN or COMMIT.

-- a log line of the pipeline has the position it was emitted at; the service's own events
-- (status, resume) have none (NULL) and are never deleted by a resume
ALTER TABLE events ADD COLUMN stage INTEGER;
ALTER TABLE events ADD COLUMN epoch INTEGER;
ALTER TABLE events ADD COLUMN step  INTEGER;

-- a checkpoint's position: the end of its epoch (-1), or the steps done in the stage for one
-- written inside an epoch (a stop); the earlier schema had only the end of an epoch
ALTER TABLE checkpoints ADD COLUMN step INTEGER NOT NULL DEFAULT -1;
-- the figures of its stage's row at the checkpoint, committed with it, from which a resumed
-- run restores that row (NULL in checkpoints stored before this migration)
ALTER TABLE checkpoints ADD COLUMN row_epoch       INTEGER;
ALTER TABLE checkpoints ADD COLUMN row_epochs      INTEGER;
ALTER TABLE checkpoints ADD COLUMN row_step        INTEGER;
ALTER TABLE checkpoints ADD COLUMN row_steps       INTEGER;
ALTER TABLE checkpoints ADD COLUMN row_loss        REAL;
ALTER TABLE checkpoints ADD COLUMN row_items_per_s REAL;
ALTER TABLE checkpoints ADD COLUMN row_eta_s       REAL;
ALTER TABLE checkpoints ADD COLUMN row_seconds     REAL;
ALTER TABLE checkpoints ADD COLUMN row_started_at  REAL;

-- the position of a run's pseudo-labels (one set per run)
CREATE TABLE assignment_sets (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    stage  INTEGER NOT NULL,
    epoch  INTEGER NOT NULL,
    step   INTEGER NOT NULL
);
-- the sets stored so far came from the end of stage 1 (kmeans), epoch 1
INSERT INTO assignment_sets (run_id, stage, epoch, step)
    SELECT DISTINCT run_id, 1, 1, -1 FROM assignments;

-- how many times a worker has started the run: a start after the first is a resume
ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET attempts = 1 WHERE started_at IS NOT NULL;
-- resumes used to be counted when a run was put back in the queue; now when it starts again
UPDATE runs SET resumes = resumes - 1 WHERE status = 'queued' AND resumes > 0;
