"""Helpers for testbed/make-fixtures.sh: parse `--progress=plain` logs and write fixtures/<case>/case.json.

    python testbed/case_json.py steps BUILD.log            # JSON list of {"vertex", "status"}
    python testbed/case_json.py write --out DIR/case.json --name … [options]

Only what the build printed is recorded: a step is "CACHED" when its vertex number got a `#N CACHED`
line (its block may be printed again later while its layers load: `loaded_blobs` then lists them); "LOADED" when it ended `#N DONE` but printed nothing except downloads/extractions of layer blobs
(`#N sha256:… done`, `#N extracting sha256:…`): a cache hit whose result BuildKit had to pull from the
imported cache because a later step runs on top of it (FROM steps excepted: that is the base image pull);
"RAN" for any other `#N DONE`; "ERROR" on `#N ERROR`; otherwise "UNKNOWN".
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

# "#7 [assets 3/4] COPY assets/js /src/js", "#5 [linux/arm64 2/3] COPY a /a", "#4 [1/2] COPY a /a"
STEP_RE = re.compile(r"^#(\d+) (\[(?:[^\]]+ )?\d+/\d+\] .+)$")
STATUS_RE = re.compile(r"^#(\d+) (CACHED|DONE|ERROR)\b")
BODY_RE = re.compile(r"^#(\d+) (.*)$")
# layer blob lines inside a vertex block: "sha256:… 181B / 181B 0.0s done", "extracting sha256:… [done]"
BLOB_RE = re.compile(r"^(?:extracting (sha256:[0-9a-f]{64})\b|(sha256:[0-9a-f]{64}) \S+ / \S+)")
BARE_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")  # v0.8-style vertex digest line: neutral
# "#N ...": the plain printer's marker that N's block is interrupted by another vertex's output and
# continues later (progressui printer.go); it is not output of N, so it is neutral too
CONTINUED_RE = re.compile(r"^\.\.\.$")

STEPS_LEGEND = {
    "CACHED": "the build printed '#N CACHED'",
    "LOADED": "'#N DONE' after only layer downloads/extractions: a cache hit pulled from the imported cache",
    "RAN": "'#N DONE' otherwise: the step executed (for FROM: the base image was resolved/pulled)",
}

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def parse_steps(log: str) -> list[dict[str, Any]]:
    order: list[str] = []
    names: dict[str, str] = {}
    status: dict[str, str] = {}
    blobs: dict[str, list[str]] = {}
    other: set[str] = set()  # vertices that printed something besides blob downloads
    for raw in log.splitlines():
        line = raw.rstrip()
        m = STEP_RE.match(line)
        if m and (m.group(1) not in names or names[m.group(1)] == m.group(2)):
            # a vertex can be printed in several blocks (e.g. "CACHED", then again while its layers load)
            if m.group(1) not in names:
                names[m.group(1)] = m.group(2)
                order.append(m.group(1))
            continue
        m = STATUS_RE.match(line)
        if m:
            num, word = m.groups()
            if word == "CACHED":
                status[num] = "CACHED"
            elif word == "ERROR":
                status[num] = "ERROR"
            elif status.get(num) != "CACHED":
                status[num] = "RAN"
            continue
        m = BODY_RE.match(line)
        if m and m.group(1) in names:
            b = BLOB_RE.match(m.group(2))
            if b:
                digest = b.group(1) or b.group(2)
                if digest not in blobs.setdefault(m.group(1), []):
                    blobs[m.group(1)].append(digest)
            elif not (BARE_DIGEST_RE.match(m.group(2)) or CONTINUED_RE.match(m.group(2))):
                other.add(m.group(1))
    steps: list[dict[str, Any]] = []
    for n in order:
        step: dict[str, Any] = {"vertex": names[n], "status": status.get(n, "UNKNOWN")}
        is_from = re.match(r"\[[^\]]*\] FROM ", names[n]) is not None
        if step["status"] == "RAN" and blobs.get(n) and n not in other and not is_from:
            step["status"] = "LOADED"
        if step["status"] in ("CACHED", "LOADED") and blobs.get(n):
            step["loaded_blobs"] = blobs[n]
        steps.append(step)
    return steps


def layout_summary(layout: Path) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    entries = index.get("manifests", [])
    root = entries[0] if entries else {}
    files = sorted(blobs.iterdir()) if blobs.is_dir() else []
    summary: dict[str, Any] = {
        "root_media_type": root.get("mediaType"),
        "root_digest": root.get("digest"),
        "index_entries": len(entries),
        "blob_count": len(files),
        "blob_bytes": sum(p.stat().st_size for p in files),
    }
    if root.get("digest"):
        body = json.loads((blobs / root["digest"].split(":", 1)[1]).read_bytes())
        if "manifests" in body:
            summary["root_manifests_media_types"] = sorted(
                {d.get("mediaType", "") for d in body["manifests"]}
            )
        if "config" in body:
            summary["root_config_media_type"] = body["config"].get("mediaType")
    return summary


def cmd_steps(args: argparse.Namespace) -> int:
    json.dump(parse_steps(Path(args.log).read_text()), sys.stdout, indent=2)
    print()
    return 0


def cmd_write(args: argparse.Namespace) -> int:
    case: dict[str, Any] = {
        "name": args.name,
        "description": args.description,
        "kind": args.kind,
        "export": {"type": args.export_type, "mode": args.mode, "attrs": json.loads(args.attrs)},
        "dockerfile": Path(args.dockerfile).read_text(),
        "context_notes": args.context_notes,
        "commands": [c for c in Path(args.commands).read_text().splitlines() if c.strip()],
        "registry_note": "$REG in commands is the loopback test registry (127.0.0.1:<random port> at generation)",
        "buildkit_version": args.buildkit_version,
        "docker_version": args.docker_version,
    }
    if args.buildkit_version_reported:
        case["buildkit_version_reported"] = args.buildkit_version_reported
    if args.buildx_version:
        case["buildx_version"] = args.buildx_version
    if args.steps_log:
        log = Path(args.steps_log).read_text()
        if args.registry:
            log = log.replace(args.registry, "$REG")
        case["steps"] = parse_steps(log)
        case["steps_legend"] = STEPS_LEGEND
    if args.cache_from:
        case["cache_from"] = args.cache_from
    if args.delete_blob:
        case["delete_blob"] = args.delete_blob
    if args.platforms:
        case["platforms"] = args.platforms.split(",")
    for extra in args.extra or []:
        case.update(json.loads(extra))
    out = Path(args.out)
    case["layout"] = layout_summary(out.parent)
    out.write_text(json.dumps(case, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("steps")
    s.add_argument("log")
    s.set_defaults(func=cmd_steps)
    w = sub.add_parser("write")
    w.add_argument("--out", required=True)
    w.add_argument("--name", required=True)
    w.add_argument("--description", required=True)
    w.add_argument("--kind", required=True, choices=["registry-cache", "local-cache", "inline-image"])
    w.add_argument("--export-type", required=True)
    w.add_argument("--mode", required=True)
    w.add_argument("--attrs", default="{}")
    w.add_argument("--dockerfile", required=True)
    w.add_argument("--context-notes", default="")
    w.add_argument("--commands", required=True, help="file with one command per line")
    w.add_argument("--buildkit-version", required=True)
    w.add_argument("--buildkit-version-reported", default="")
    w.add_argument("--buildx-version", default="")
    w.add_argument("--docker-version", required=True)
    w.add_argument("--steps-log", default="")
    w.add_argument("--cache-from", default="")
    w.add_argument("--delete-blob", default="")
    w.add_argument("--platforms", default="")
    w.add_argument("--registry", default="", help="registry address shown as $REG in steps")
    w.add_argument("--extra", action="append", help="JSON object merged into case.json")
    w.set_defaults(func=cmd_write)
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
