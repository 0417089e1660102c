"""Registry operations for BuildKit caches: ``registry probe``, ``registry ls``, ``registry prune``.

A capability on top of :mod:`cacheinspect.registry` (the client) and :mod:`cacheinspect.cache` (the
decoder). Pure cores, I/O at the edge:

* ``shapes``: the minimal caches the probe pushes, one per shape BuildKit writes (pure);
* ``advice``: the ``--cache-to`` attributes for a BuildKit version given what the registry accepted (pure);
* ``rules``: known registry rules with their sources, and the diagnosis of a failed export log (pure);
* ``inventory``: which bytes each tag holds alone or shares, and the prune plan (pure);
* ``remote``: tag listing, manifest walks, pushes and deletes through the registry client (I/O);
* ``render``: table and JSON output.
"""
