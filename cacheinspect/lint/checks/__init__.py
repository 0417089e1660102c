"""The checks: a pure function of a resolved Dockerfile (:class:`~cacheinspect.dockerfile.Build`) to
findings.

Laid out by seam: :mod:`.state` holds the facts kept per stage, :class:`Finding`, the reporting and
``# cacheinspect: ignore`` handling every rule shares; :mod:`.walk` the one pass over the stages and
:func:`check_build`; the rule families live in :mod:`.outputs` (CM001, CM002), :mod:`.packages`
(CM003–CM005), :mod:`.mounts` (CM006–CM010) and :mod:`.lists` (CM011). Every name other modules import
from ``cacheinspect.lint.checks`` stays importable from here.
"""

from __future__ import annotations

from cacheinspect.lint.checks.state import UNKNOWN_WORKDIR, Finding, _ignore_codes, _ignored
from cacheinspect.lint.checks.walk import _Checker, check_build

__all__ = ["UNKNOWN_WORKDIR", "Finding", "_Checker", "_ignore_codes", "_ignored", "check_build"]
