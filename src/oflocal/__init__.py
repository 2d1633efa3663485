"""oflocal: money side of regional open-factory events."""
