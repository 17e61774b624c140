"""Celery app and tasks, the reflection loop, LLM backends and the sandbox client."""
