"""Idempotency keys: the first outcome of a retryable write is stored and replayed."""
