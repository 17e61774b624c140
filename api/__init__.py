"""The FastAPI application: REST API under /v1 and the review dashboard under /review."""
