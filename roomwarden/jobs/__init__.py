"""Background jobs: one mechanism, backed by the database, for everything the service does on
its own (mail delivery, the approval sweep, offline detection, ...).

A job is a named, periodic unit of work (``registry.JobSpec``) with one row in ``jobs``. Any
number of processes run ``runner.Runner`` over the same table: a runner claims a due job by
taking a lease on its row, runs it outside that transaction, and gives the lease back. A job
is never run by two processes at once (the lease), and a job whose process died is run again
once its lease has passed. See ``service`` for how a claim stays atomic on both databases.
"""
