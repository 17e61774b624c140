"""reflectseq: reflection-sequence training data for code LLMs, and the trainer that uses it."""

# The one place the version is written (pyproject.toml reads it from here): a literal, because
# looking it up in the installed metadata costs every command's start 30 ms.
__version__ = "0.1.0"
