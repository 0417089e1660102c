"""Gate parity (issue 17): BuildKit's importer (``readBlob`` in cache/remotecache/import.go) refuses a
manifest whose descriptor declares more than 1 MiB before reading it, whatever the blob holds. A local
layout's index.json entry is that descriptor, so ``audit`` must fail such a layout as the import would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parents[1] / "fixtures"
CAP = 1 << 20  # readBlob's maxBlobSize


def audit(layout: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cacheinspect", "audit", f"oci-layout://{layout}"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("declared", "passes"), [(CAP, True), (CAP + 1, False), (50 << 20, False)])
def test_declared_root_size_over_the_import_cap_fails_audit(
    tmp_path: Path, declared: int, passes: bool
) -> None:
    layout = tmp_path / "cache"
    shutil.copytree(FIX / "threestage-max", layout)
    assert audit(layout).returncode == 0  # the fixture as BuildKit exported it imports
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["size"] = declared
    (layout / "index.json").write_text(json.dumps(index))
    p = audit(layout)
    if passes:
        assert p.returncode == 0, p.stdout + p.stderr
    else:
        assert p.returncode == 1, p.stdout + p.stderr
        assert "manifest-over-import-cap" in p.stdout
