"""Pure formatters: a report dict in, a ``str`` out (tables, markdown, JSON, DOT, Mermaid, annotations).

One module per report (``inspect``, ``diff``, ``audit``, ``graph``), ``common`` for tables and JSON, and
``escape`` for the one function every renderer passes outside text through.
"""
