"""cacheinspect: open up BuildKit build caches stored in OCI registries."""

from __future__ import annotations

__version__ = "0.1.0"
