"""Running the CLI and reading registries' own storage for the registry-operations tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

__all__ = ["cli", "cli_json", "distribution_blob_size", "distribution_tags", "tags_of"]


def cli(
    args: list[str], *, docker_config: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m cacheinspect ARGS`` as a user runs it; a traceback fails the test."""
    env = {**os.environ}
    if docker_config is not None:
        env["DOCKER_CONFIG"] = str(docker_config)
    env.pop("REGISTRY_AUTH_FILE", None)
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=300,
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p


def cli_json(
    args: list[str], *, docker_config: Path | None = None, ok: tuple[int, ...] = (0,)
) -> dict[str, Any]:
    p = cli([*args, "-f", "json", "-q"], docker_config=docker_config)
    assert p.returncode in ok, (p.returncode, p.stdout, p.stderr)
    doc: dict[str, Any] = json.loads(p.stdout)
    return doc


def tags_of(client: httpx.Client, repo: str) -> list[str]:
    """The tags a registry lists for *repo* (none when the repository does not exist)."""
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 10000})
    if r.status_code == 404:
        return []
    r.raise_for_status()
    return sorted(r.json().get("tags") or [])


def distribution_tags(storage: Path, repo: str) -> dict[str, str]:
    """Tag -> manifest digest, read from distribution's storage directory (not through its API)."""
    tags_dir = storage / "docker/registry/v2/repositories" / repo / "_manifests/tags"
    out: dict[str, str] = {}
    if tags_dir.is_dir():
        for t in tags_dir.iterdir():
            link = t / "current/link"
            if link.exists():
                out[t.name] = link.read_text().strip()
    return out


def distribution_blob_size(storage: Path, digest: str) -> int:
    alg, hexpart = digest.split(":", 1)
    return (storage / "docker/registry/v2/blobs" / alg / hexpart[:2] / hexpart / "data").stat().st_size


def distribution_blob(storage: Path, digest: str) -> bytes:
    alg, hexpart = digest.split(":", 1)
    return (storage / "docker/registry/v2/blobs" / alg / hexpart[:2] / hexpart / "data").read_bytes()
