"""``python -m reflectseq``: the same command line as the ``reflectseq`` script."""

from reflectseq.cli import main

main()
