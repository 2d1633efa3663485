"""Backups and recovery: a committee never loses its books or its ability to check tickets.

A backup is one file (``archive.py``) holding a consistent snapshot of the live database
(``snapshot.py``), the signing secret and the settings (``installation.py``), and a
manifest that counts what it holds (``manifest.py``), with a checksum over all of it
and, with a passphrase, sealed with AES-256-GCM. ``create.py`` tells how one is made
without ever leaving a half-written file that looks complete; ``restore.py`` how an
installation is built from one and proved to be the same books (compared with the
manifest, audited, printed codes checked). The automatic backups (``jobs.py``) run as
a background job every few minutes into a second folder, rotated (``rotation.py``),
their outcome shown on the staff pages (``status.py``). ``cli.py`` is the shell for
``oflocal backup`` and ``oflocal restore``; docs/operations.md is the guide.
"""
