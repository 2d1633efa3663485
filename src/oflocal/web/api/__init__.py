"""JSON API, versioned under /api/v1. Handlers are thin: parse, call a service, answer."""
