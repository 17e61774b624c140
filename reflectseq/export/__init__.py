"""Training-data exports: stored sequences streamed into JSONL files with a manifest.

``filters`` turns an ``ExportFilters`` request into SQL, ``stream`` reads matching sequences in
one snapshot with constant memory, ``writers`` maps one loaded sequence to one record of a
format, ``files`` writes the (optionally gzipped) file and its manifest atomically, and ``jobs``
records each export in the database for the API, the workers and the CLI.
"""
