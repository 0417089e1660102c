"""Known registry rules against BuildKit's cache shapes, and the diagnosis of a failed cache export log.

BuildKit reports a refused cache push as a bare status line: the registry's structured error body is
dropped on the way (containerd's ``ErrUnexpectedStatus`` prints method, URL and status only;
moby/buildkit#1143). So ``registry probe --from-log`` reads a ``--progress=plain`` log, finds the failed
request (the step that failed: layer, config or manifest; the shape BuildKit was writing, from its
"writing cache manifest" vs "writing cache image manifest" line; method, URL and status) and matches it
against the rules users have reported, each with its source:

=================  ===============================================================  =====================
registry           what it does                                                     source
=================  ===============================================================  =====================
AWS ECR            400 ``UNSUPPORTED`` "Unsupported manifest type" on the index     moby/buildkit#699,
                   or manifest-list cache; image-manifest works                     aws/containers-roadmap#876
Harbor             404 on the PUT of the index cache; image-manifest works          goharbor/harbor#14774
Quay               400 ``MANIFEST_INVALID`` "'platform' is a required property"     moby/buildkit#1550, #3222,
                   on every index child                                             #1440
legacy GCR         400 on an index whose children are layers, not manifests         moby/buildkit#1143
Artifactory        index cache refused before 7.31.10                               (issue 20 text)
Nexus              500 / ``blob upload invalid``                                     moby/buildkit#2068,
                                                                                    sonatype/nexus-public#967
Gitea              the manifest PUT of the cache fails                              go-gitea/gitea#28973
Pulp               the cache manifest is refused                                     pulp/pulp_container#1587
BuildKit v0.21     ``oci-mediatypes=false`` with the image-manifest default:          moby/buildkit#5965
                   "invalid configuration for remote cache"
=================  ===============================================================  =====================

Pure: text in, a :class:`LogDiagnosis` out. Linear in the log: one pass, lines cut at 64 KiB, at most
``MAX_LINES`` lines looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["MAX_LINES", "RULES", "LogDiagnosis", "Rule", "diagnose_log"]

MAX_LINES = 2_000_000
_LINE_CAP = 64 * 1024
_FIX_IMAGE_MANIFEST = (
    "export the image-manifest shape: --cache-to type=registry,ref=REF,mode=max,"
    "image-manifest=true,oci-mediatypes=true (BuildKit v0.12+; the default since v0.21)"
)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    registry: str
    rule: str
    links: tuple[str, ...]
    fix: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "ecr-index",
            "AWS ECR",
            "refuses the OCI index / Docker manifest list cache shape (400 UNSUPPORTED: Unsupported manifest type)",
            (
                "https://github.com/moby/buildkit/issues/699",
                "https://github.com/aws/containers-roadmap/issues/876",
            ),
            _FIX_IMAGE_MANIFEST,
        ),
        Rule(
            "harbor-index",
            "Harbor",
            "answers 404 Not Found to the PUT of the index cache manifest (open upstream)",
            ("https://github.com/goharbor/harbor/issues/14774",),
            _FIX_IMAGE_MANIFEST,
        ),
        Rule(
            "quay-platform",
            "Quay",
            "requires `platform` on every index child (400 MANIFEST_INVALID / MalformedSchema2ManifestList)",
            (
                "https://github.com/moby/buildkit/issues/1550",
                "https://github.com/moby/buildkit/issues/3222",
                "https://github.com/moby/buildkit/issues/1440",
            ),
            _FIX_IMAGE_MANIFEST,
        ),
        Rule(
            "gcr-layer-children",
            "legacy GCR (gcr.io)",
            "refuses layer media types as index children (400 Bad Request)",
            ("https://github.com/moby/buildkit/issues/1143",),
            _FIX_IMAGE_MANIFEST + "; or move to Artifact Registry (pkg.dev)",
        ),
        Rule(
            "artifactory-index",
            "JFrog Artifactory < 7.31.10",
            "refuses the index cache manifest",
            (),
            "upgrade Artifactory to 7.31.10 or later, or " + _FIX_IMAGE_MANIFEST,
        ),
        Rule(
            "nexus",
            "Sonatype Nexus",
            "fails the cache push with 500 / `blob upload invalid`",
            (
                "https://github.com/moby/buildkit/issues/2068",
                "https://github.com/sonatype/nexus-public/issues/967",
            ),
            _FIX_IMAGE_MANIFEST + "; if a blob upload itself fails, upgrade Nexus",
        ),
        Rule(
            "gitea",
            "Gitea",
            "refuses the cache manifest PUT",
            ("https://github.com/go-gitea/gitea/issues/28973",),
            _FIX_IMAGE_MANIFEST + "; or upgrade Gitea",
        ),
        Rule(
            "pulp",
            "Pulp",
            "refuses the cache manifest",
            ("https://github.com/pulp/pulp_container/issues/1587",),
            _FIX_IMAGE_MANIFEST + "; or upgrade pulp_container",
        ),
        Rule(
            "buildkit-5965",
            "BuildKit v0.21",
            "oci-mediatypes=false with the image-manifest default is refused by BuildKit itself: "
            "invalid configuration for remote cache",
            ("https://github.com/moby/buildkit/issues/5965",),
            "add image-manifest=false next to oci-mediatypes=false, or drop oci-mediatypes=false "
            "(BuildKit v0.22+ implies image-manifest=false)",
        ),
        Rule(
            "index-refused",
            "a registry that refuses the index cache shape",
            "the cache index (its children are layers, not manifests) was refused; many registries do this",
            ("https://github.com/moby/buildkit/issues/1143",),
            _FIX_IMAGE_MANIFEST + "; `cacheinspect registry probe REGISTRY/REPO` shows which shapes it takes",
        ),
        Rule(
            "auth",
            "any registry",
            "the credentials lack push rights on the cache repository",
            (),
            "log in with an account (or token scope) that may push to the cache repository",
        ),
        Rule(
            "too-large",
            "any registry or proxy in front of it",
            "the request body was over the registry's (or a proxy's) size limit (413)",
            (),
            "raise the body size limit of the registry or its proxy (e.g. nginx client_max_body_size)",
        ),
    )
}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_STEP = re.compile(r"^#(\d+) (.*)$")
_WRITING = re.compile(
    r"writing (?P<what>cache image manifest|cache manifest|manifest|config|layer) (?P<digest>sha256:[0-9a-f]{64})"
)
_FAILED_OP = re.compile(r"error writing (?P<what>manifest|config|layer) blob")
_REQUEST = re.compile(
    r"unexpected status from (?P<method>[A-Z]{3,7}) request to (?P<url>\S+?): (?P<status>\d{3})(?: (?P<reason>[^\n\"]*))?$"
)
_OLD_STATUS = re.compile(r"unexpected status: (?P<status>\d{3})(?: (?P<reason>[^\n\"]*))?")
_REF = re.compile(r"failed commit on ref \"(?P<ref>[^\"]{1,200})\"")
_EXPORT_STEP = re.compile(r"^exporting cache(?: to registry)?\b")


@dataclass(slots=True)
class LogDiagnosis:
    """What the log says failed, and the rules that match it (best first)."""

    failed: bool = False
    error: str | None = None
    step: str | None = None
    operation: str | None = None
    shape: str | None = None
    method: str | None = None
    url: str | None = None
    host: str | None = None
    status: int | None = None
    reason: str | None = None
    commit_ref: str | None = None
    rules: list[Rule] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "failed": self.failed,
            "error": self.error,
            "step": self.step,
            "operation": self.operation,
            "shape": self.shape,
            "request": {"method": self.method, "url": self.url, "status": self.status, "reason": self.reason}
            if self.status is not None or self.url is not None
            else None,
            "commit_ref": self.commit_ref,
            "rules": [
                {"id": r.id, "registry": r.registry, "rule": r.rule, "links": list(r.links), "fix": r.fix}
                for r in self.rules
            ],
        }


def _host_of(url: str) -> str | None:
    m = re.match(r"https?://([^/\s]{1,300})", url)
    return m.group(1).lower() if m else None


def diagnose_log(text: str) -> LogDiagnosis:
    """Find the failed cache export in a ``--progress=plain`` log and match it against :data:`RULES`."""
    d = LogDiagnosis()
    export_steps: set[str] = set()
    last_writing: dict[str, str] = {}  # step -> last "writing X" kind
    error_line: str | None = None
    error_step: str | None = None
    error_export = False
    final_error: str | None = None
    for n, raw in enumerate(text.splitlines()):
        if n >= MAX_LINES:
            break
        line = _ANSI.sub("", raw[:_LINE_CAP]).rstrip()
        m = _STEP.match(line)
        if m:
            step, rest = m.group(1), m.group(2)
            if _EXPORT_STEP.match(rest):
                export_steps.add(step)
            w = _WRITING.search(rest)
            if w:
                last_writing[step] = w.group("what")
            # The export step's own ERROR wins over any other step's (a failed RUN, an import miss).
            if rest.startswith("ERROR:") and (
                error_line is None or (step in export_steps and not error_export)
            ):
                error_line, error_step = rest[len("ERROR:") :].strip(), step
                error_export = step in export_steps
            continue
        stripped = line.lstrip()
        for prefix in ("ERROR: failed to solve:", "error: failed to solve:", "ERROR: failed to build:"):
            if stripped.startswith(prefix):
                final_error = stripped[len(prefix) :].strip()
    message = error_line or final_error
    if message is None:
        return d
    d.failed = True
    d.error = message[:2000]
    d.step = error_step
    op = _FAILED_OP.search(message)
    if op:
        d.operation = f"{op.group('what')} PUT"
    elif "invalid configuration for remote cache" in message:
        d.operation = "export configuration"
    writing = last_writing.get(error_step or "", "")
    if writing == "cache image manifest":
        d.shape = "image-manifest"
    elif writing in ("cache manifest", "manifest"):
        d.shape = "index"
    r = _REQUEST.search(message)
    if r:
        d.method, d.url, d.status = r.group("method"), r.group("url"), int(r.group("status"))
        d.reason = (r.group("reason") or "").strip() or None
        d.host = _host_of(d.url)
    else:
        o = _OLD_STATUS.search(message)
        if o:
            d.status, d.reason = int(o.group("status")), (o.group("reason") or "").strip() or None
    c = _REF.search(message)
    if c:
        d.commit_ref = c.group("ref")
    d.rules = _match(d, message)
    return d


def _match(d: LogDiagnosis, message: str) -> list[Rule]:
    low = message.lower()
    host = d.host or ""
    out: list[str] = []
    if (
        "oci mediatypes are required for image-manifest" in low
        or "invalid configuration for remote cache" in low
    ):
        out.append("buildkit-5965")
    if d.status in (401, 403):
        out.append("auth")
    if d.status == 413:
        out.append("too-large")
    index_manifest = d.operation == "manifest PUT" and d.shape != "image-manifest"
    if ".dkr.ecr." in host or "unsupported manifest type" in low:
        out.append("ecr-index")
    if "quay" in host or "'platform' is a required property" in low or "malformedschema2manifestlist" in low:
        out.append("quay-platform")
    if host == "gcr.io" or host.endswith(".gcr.io"):
        out.append("gcr-layer-children")
    if "harbor" in host or (index_manifest and d.status == 404):
        out.append("harbor-index")
    if "jfrog" in host or "artifactory" in host:
        out.append("artifactory-index")
    if "nexus" in host or "blob upload invalid" in low or (d.status == 500 and d.operation is not None):
        out.append("nexus")
    if "gitea" in host:
        out.append("gitea")
    if "pulp" in host:
        out.append("pulp")
    if index_manifest and d.status == 400 and not out:
        out.append("index-refused")
    return [RULES[i] for i in dict.fromkeys(out)]
