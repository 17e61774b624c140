"""Reflection self-distillation with dynamically masked distillation (reads exported JSONL)."""
