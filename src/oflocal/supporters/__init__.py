"""Supporters after the pledge: signing in by an e-mailed link, and their own page."""
