"""The web shell: JSON API under /api/v1, pages for the desk, booths and treasurer."""
