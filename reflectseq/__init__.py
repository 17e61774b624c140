"""reflectseq: reflection-sequence training data for code LLMs, and the trainer that uses it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reflectseq")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
