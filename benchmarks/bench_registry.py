"""registry ls over N cache tags of a real distribution 2.8 registry: whole command vs a request floor."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.layout import push_blob, push_named_fixture
from tests.support.registry import start_registry

TITLE = "registry ls: N distinct cache tags (threestage-max, own config each) on distribution 2.8, loopback"

SIZES = (25, 100, 400)
ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"


def _floor(url: str, repo: str, tags: list[str]) -> float:
    """The least a tool must do: list the tags, GET each manifest and its cache config (keep-alive,
    sequential, no decoding)."""
    t = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as c:
        c.get(f"/v2/{repo}/tags/list").raise_for_status()
        for tag in tags:
            m = json.loads(c.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}).content)
            cfg = next(d for d in m["manifests"] if d["mediaType"].endswith("cacheconfig.v0"))
            c.get(f"/v2/{repo}/blobs/{cfg['digest']}").raise_for_status()
    return time.perf_counter() - t


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    prev: tuple[int, float] | None = None
    with tempfile.TemporaryDirectory() as d, start_registry("plain", Path(d) / "reg") as reg:
        for n in SIZES:
            repo = f"bench/ls{n}"
            first = push_named_fixture(reg, "threestage-max", repo=repo, tag="t0")
            with reg.admin_client() as c:
                body = c.get(f"/v2/{repo}/manifests/{first.digest}", headers={"Accept": ACCEPT})
                index = json.loads(body.content)
                cfg_desc = next(d for d in index["manifests"] if d["mediaType"].endswith("cacheconfig.v0"))
                cfg = c.get(f"/v2/{repo}/blobs/{cfg_desc['digest']}").content
                for i in range(1, n):
                    # a distinct cache per tag: the same config with i trailing spaces (other digest, same
                    # decoded content), so no tag's manifest or config is another's
                    data = cfg + b" " * i
                    dig = push_blob(c, repo, data)
                    cfg_desc.update(digest=dig, size=len(data))
                    c.put(
                        f"/v2/{repo}/manifests/t{i}",
                        content=json.dumps(index).encode(),
                        headers={"Content-Type": body.headers["content-type"]},
                    ).raise_for_status()
            tags = [f"t{i}" for i in range(n)]
            t = time.perf_counter()
            p = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cacheinspect",
                    "registry",
                    "ls",
                    f"{reg.host}/{repo}",
                    "-f",
                    "json",
                    "-q",
                ],
                capture_output=True,
                check=True,
            )
            wall = time.perf_counter() - t
            assert len(json.loads(p.stdout)["tags"]) == n
            floor = _floor(reg.url, repo, tags)
            growth = "" if prev is None else f"{math.log(wall / prev[1]) / math.log(n / prev[0]):.2f}"
            prev = (n, wall)
            rows.append(
                {
                    "tags": n,
                    "registry ls (s)": f"{wall:.2f}",
                    "floor: list + 2 GETs/tag (s)": f"{floor:.2f}",
                    "ms/tag": f"{wall / n * 1000:.1f}",
                    "growth exponent": growth,
                }
            )
    return rows
