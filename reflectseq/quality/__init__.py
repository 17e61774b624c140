"""Quality flags of stored sequences: benchmark contamination, near-duplicate instructions,
tests that assert nothing, records too long for a trainer's ``max_len``, records whose content
spells special tokens (which the reference trainer would read as structure), text carrying
bidirectional control characters (Trojan Source), and runs that passed while their stderr
carried an error.

Flags are computed here and stored in ``Sequence.flags``; exports read them to exclude or count
records. A flagged record is never dropped silently: every exclusion shows in the manifest.
"""
