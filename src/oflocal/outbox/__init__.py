"""E-mail to supporters through an outbox: written with the change, sent by the workers.

A pledge, a payment or a refund and the message that tells the supporter about it commit
in one transaction, or neither does: ``notices.py`` (one function per notice, called by
the crowdfunding domain inside its write) → ``messages.queue_message`` renders the
message from ``templates/mail/`` and writes a ``mail_message`` row and a ``mail.send``
job beside the change. No mail server is called inside a transaction. The job is run by
the background workers (``oflocal.jobs``, in the web process or ``oflocal worker``):
``jobs.py`` hands the message to SMTP (``transport.py``), or writes an ``.eml`` file when
no server is configured (the ``make run`` demo), and marks it sent in a fenced write.
Failures are retried by the job queue; a message is delivered at least once, and a
copy sent twice after a crash has the same Message-ID (``compose.py``). See
docs/outbox.md.
"""
