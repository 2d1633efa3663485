"""Every kind of background job, for the workers (in the web process and in ``oflocal
worker``): each capability brings its own :class:`~oflocal.jobs.worker.Task` and this
module lists them, as ``audit.py`` composes the capabilities' checks.

Print batches, the e-mail outbox (``mail.send``), the payment reconciliation, the
campaigns' sweeps and the automatic backups (``backup.run``) are here. A worker claims
only the kinds it knows.
"""

from __future__ import annotations

from oflocal.backup.jobs import BACKUP_TASK
from oflocal.crowdfunding.provider_payments import RECONCILE_TASK
from oflocal.crowdfunding.sweep import SWEEP_TASK
from oflocal.jobs.worker import Task
from oflocal.outbox.jobs import MAIL_SEND_TASK
from oflocal.printing.jobs import PRINT_BATCH
from oflocal.supporters.updates import MAILING_TASK

TASKS: tuple[Task, ...] = (PRINT_BATCH, SWEEP_TASK, MAIL_SEND_TASK, RECONCILE_TASK,
                           MAILING_TASK, BACKUP_TASK)
