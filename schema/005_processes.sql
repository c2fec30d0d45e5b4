-- 005_processes.sql — runs of several processes (issue 14): how many processes a run asked for
-- (its configuration's "processes", copied at insert so lists need not parse configurations)
-- and the host name of each, in rank order, as a JSON array text once its processes started
-- (NULL for a run of one process, or before its launch). Applied once, in a transaction.
ALTER TABLE runs ADD COLUMN processes INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN hosts TEXT;
