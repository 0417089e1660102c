"""Where a cache's bytes come from: the :class:`~cacheinspect.sources.base.Source` protocol, OCI layout
directories on disk, and the parsing of what a user names on the command line (``targets``).

The registry implementation of the protocol lives in :mod:`cacheinspect.registry.source`; everything
downstream (:mod:`cacheinspect.cache`) talks to a Source and never knows which one it has.
"""
