"""Matching image-history labels to RUN instructions with cache mounts (``inspect --dockerfile``).

The labels are what cacheinspect shows for BuildKit's ``created_by`` texts: BuildKit v0.13 writes
``RUN |1 FLAVOR=plain /bin/sh -c echo hi # buildkit`` (shown ``RUN echo hi [FLAVOR=plain]``) and never
the ``--mount`` flags (dockerfile2llb/convert.go runCommandString).
"""

from __future__ import annotations

from cacheinspect.dockerfile import Build, parse_dockerfile, resolve
from cacheinspect.lint.history import cache_mounted_steps

DF = """\
FROM busybox AS base
RUN --mount=type=cache,target=/root/.cache/pip pip install -r req.txt
FROM base
ARG FLAVOR=plain
RUN echo hi
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=bind,target=/src echo hi
RUN ["/bin/sh", "-c", "make"]
"""


def _build() -> Build:
    return resolve(parse_dockerfile(DF))


def test_steps_of_the_whole_stage_chain_are_matched_in_order() -> None:
    labels = [
        None,  # the base image's layer
        "RUN pip install -r req.txt",
        "RUN echo hi [FLAVOR=plain]",
        "RUN echo hi [FLAVOR=plain]",
        "RUN make [FLAVOR=plain]",
    ]
    got = cache_mounted_steps(labels, _build())
    assert [(h.position, h.line, [m.target for m in h.mounts]) for h in got] == [
        (1, 2, ["/root/.cache/pip"]),
        (3, 6, ["/var/cache/apt"]),  # the second 'echo hi', by order; the bind mount is not a cache
    ]


def test_labels_of_another_build_match_nothing() -> None:
    assert cache_mounted_steps(["RUN pip install other", "RUN true"], _build()) == []


def test_a_command_ending_in_a_bracket_is_not_mistaken_for_build_args() -> None:
    df = resolve(parse_dockerfile("FROM scratch\nRUN --mount=type=cache,target=/c [ -d /c ]\n"))
    (hit,) = cache_mounted_steps(["RUN [ -d /c ]"], df)
    assert hit.line == 2
