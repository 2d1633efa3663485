"""Background jobs: claimed with leases and heartbeats, fenced, run by any worker.

``models.py`` holds the job table and its attempts, ``queue.py`` every statement that
queues, claims, renews or ends a job (read it to know why a job is never held twice),
``worker.py`` the threads that run tasks, in the web process or in ``oflocal worker``.
The kinds of job (print batches; later the e-mail outbox, payment reconciliation,
expiries) are listed in ``oflocal.job_kinds``; this package imports none of them.
"""
