"""Reports for the treasurer (会計): programme summary, unused balance, ledger exports.

Each report is plain Python reading the database (``summary``, ``unused``, ``exports``)
with thin renderers (CSV, XLSX, PDF, SVG charts) and shells (``cli``, the JSON API in
``web/api/reports.py`` and the treasurer pages).
"""
