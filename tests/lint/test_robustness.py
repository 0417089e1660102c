"""Arbitrary input never crashes the linter: the shell reader takes any text, and lint either returns
findings or raises the front end's one-line DockerfileError (exit 2), nothing else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cacheinspect.dockerfile import DockerfileError
from cacheinspect.lint.engine import lint_text
from cacheinspect.lint.shell import parse_script

SHELLISH = st.lists(
    st.sampled_from(
        [*"ab /.-=*$(){}'\"\\`;&|<>\n\t#~09", "pip", "npm ", "cd ", "<<EOF\n", "EOF\n", "sh -c ", "export "]
    ),
    max_size=40,
).map("".join)

TOOLS = [
    "pip install --target=/t x",
    "npm ci",
    "yarn",
    "go build -o /o .",
    "cargo build",
    "apt-get install -y gcc",
    "apk add --no-cache x",
    "rm -rf /c/*",
    "cp -r /c/x /y",
    "echo a > /c/f",
    "poetry install",
    "uv sync",
    "dnf install -y x",
    "mvn package",
    "gradle build",
    "useradd -u 1000 app",
]
MOUNTS = [
    "",
    "--mount=type=cache,target=/c ",
    "--mount=type=cache,target=/root/.cache/pip,uid=1000 ",
    "--mount=type=cache,target=/var/lib/apt ",
    "--mount=type=cache,id=x,target=/c,mode=0777 ",
    "--mount=type=bind,from=s0,source=/c,target=/b ",
]
LINE = st.one_of(
    st.builds(lambda m, t: f"RUN {m}{t}", st.sampled_from(MOUNTS), st.sampled_from(TOOLS)),
    st.sampled_from(
        [
            "USER app",
            "USER 1000",
            "WORKDIR /c",
            "ENV PIP_NO_CACHE_DIR=1",
            "COPY a /c/",
            "COPY --from=s0 /c /d",
        ]
    ),
    st.builds(lambda i: f"FROM busybox AS s{i}", st.integers(0, 2)),
)


@settings(max_examples=300, deadline=None)
@given(SHELLISH)
def test_shell_reader_takes_any_text(script: str) -> None:
    for cmd in parse_script(script, env={"HOME": "/root"}, cwd="/"):
        assert cmd.cwd.startswith("/")


@settings(max_examples=200, deadline=None)
@given(st.lists(LINE, min_size=1, max_size=12))
def test_lint_never_crashes(lines: list[str]) -> None:
    text = "FROM busybox AS s0\n" + "\n".join(lines) + "\n"
    try:
        result = lint_text(text)
    except DockerfileError as e:
        message = str(e)
    else:
        message = ""
    if message:
        assert message.startswith("Dockerfile:")
        return
    for f in result.findings:
        assert 1 <= f.line <= text.count("\n")
        assert f.column >= 1
