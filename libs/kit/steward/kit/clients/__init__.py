"""gRPC clients of the platform's services for the other services: a deadline on every call,
UNAVAILABLE retried with backoff, caches dropped on ``rules.updated`` (see docs/architecture.md)."""
