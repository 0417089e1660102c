"""Re-export of :mod:`cacheinspect.reference`, where reference parsing lives now (below both
``sources`` and ``registry``, which both read references). Kept because ``cacheinspect.registry.reference``
was public."""

from __future__ import annotations

from cacheinspect.reference import (
    DOCKER_HUB,
    DOCKER_HUB_CONFIG_KEY,
    DOCKER_HUB_HOST,
    Reference,
    _check_tag,
    parse_reference,
)

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_CONFIG_KEY",
    "DOCKER_HUB_HOST",
    "Reference",
    "_check_tag",
    "parse_reference",
]
