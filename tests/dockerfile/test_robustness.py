"""Random token soup never raises anything but DockerfileError (no traceback reaches a user)."""

from __future__ import annotations

import contextlib
import random

import pytest

from cacheinspect.dockerfile import DockerfileError, parse_dockerfile, resolve

TOKENS = [
    "FROM", "scratch", "AS", "a", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "ONBUILD",
    "HEALTHCHECK", "CMD", "SHELL", "LABEL", "EXPOSE", "VOLUME", "STOPSIGNAL", "--mount=type=cache,target=/x",
    "--mount=", "--from=a", "--from=0", "--from=9", "--chmod=7", "--link", "--", "<<EOF", "<<-'E'", "EOF",
    "E", "\\", "`", "# escape=`", "$A", "${A:-b}", "${", "}", '"', "'", "[", "]", '["a"]', "=", "A=1",
    "\n", "\n", "\t", "\x00", "\udce9", "é", "\r\n", "#", "--platform=$P", "${A/b/c}", "${A:?}",
]  # fmt: skip


@pytest.mark.parametrize("dialect", ["latest", "v0.13"])
def test_token_soup(dialect: str) -> None:
    rng = random.Random(1234)
    for _ in range(400):
        text = " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 25)))
        if rng.random() < 0.5:
            text = "FROM scratch AS a\n" + text
        with contextlib.suppress(DockerfileError):
            resolve(
                parse_dockerfile(text, dialect=dialect), build_args={"A": "1"}, target=rng.choice([None, "a"])
            )
