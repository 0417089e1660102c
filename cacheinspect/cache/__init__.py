"""The registry cache itself: shapes and decoding (``config``, ``load``), the importer's validation and
the record graph (``graph``), and what is computed from it (``report``, ``diff``, ``audit``).

Pure after loading: ``load`` reads through a :class:`~cacheinspect.sources.base.Source`; every other
module takes decoded data and returns data.
"""
