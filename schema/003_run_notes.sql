-- 003_run_notes.sql — what people write on a run after submitting it: tags (a JSON array of
-- short strings, '[]' for none) and a free-text note ('' for none), both set with
-- PATCH /v1/runs/{id}. Neither is ever read by the pipeline. Numbered 003 because 002 is
-- taken by the crash-consistency migration of another branch; applied once, in a
-- transaction, by store_open; it must not contain BEGIN or COMMIT.
ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';
