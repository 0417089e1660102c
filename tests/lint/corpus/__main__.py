"""``python -m tests.lint.corpus``: the precision/recall table of the classified corpus."""

from __future__ import annotations

import sys

from tests.lint.corpus import evaluate, render

res = evaluate()
sys.stdout.write(render(res))
sys.exit(1 if res.unclassified or res.unread else 0)
