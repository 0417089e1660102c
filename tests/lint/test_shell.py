"""The RUN shell reader: word splitting and quote removal as POSIX sh does it, and the execution
context (env, cwd, user) each simple command gets.

Quote removal is checked against Python's ``shlex`` in POSIX mode, an independent implementation of
the same XCU 2.2 rules, for words without expansions.
"""

from __future__ import annotations

import shlex

import pytest

from cacheinspect.lint.shell import command_from_argv, parse_script, resolve_path


def argvs(script: str, **env: str) -> list[list[str]]:
    return [[w.text for w in c.argv] for c in parse_script(script, env=env, cwd="/w") if c.argv]


@pytest.mark.parametrize(
    "cmd",
    [
        "pip install --target=/pip-packages uwsgi",
        "pip install 'a b' \"c d\" e\\ f",
        "echo 'it''s' \"double \\\"quoted\\\"\" back\\\\slash",
        "cp -r '/path with spaces/x' \"/dest dir/\"",
        "apt-get install -y --no-install-recommends gcc make",
        "echo \"single ' inside double\" 'double \" inside single'",
        "printf '%s\\n' a\"b\"c",
    ],
)
def test_quote_removal_matches_posix_shlex(cmd: str) -> None:
    assert argvs(cmd) == [shlex.split(cmd, posix=True)]


def test_operators_split_commands() -> None:
    script = "a 1 && b 2 || c 3; d 4 | e 5 & f 6\ng 7"
    assert argvs(script) == [
        ["a", "1"],
        ["b", "2"],
        ["c", "3"],
        ["d", "4"],
        ["e", "5"],
        ["f", "6"],
        ["g", "7"],
    ]


def test_line_continuation_and_comments() -> None:
    assert argvs("pip install \\\n  flask # a comment && not a command\nnext") == [
        ["pip", "install", "flask"],
        ["next"],
    ]


def test_variables_expand_from_env_and_exports() -> None:
    cmds = parse_script(
        'export A=/x; B=/y; pip install --target="$A/lib" ${B}/z ${UNSET:-/d} $UNSET',
        env={"HOME": "/root"},
        cwd="/",
    )
    pip = cmds[-1]
    assert pip.argv[2].text == "--target=/x/lib"
    assert pip.argv[3].text == "/y/z"
    assert pip.argv[4].text == "/d"
    assert pip.argv[5].dynamic  # an unset variable is never guessed
    assert pip.env["A"] == "/x" and "B" not in pip.env  # B is a shell variable, not exported


def test_prefix_assignment_is_the_commands_env_only() -> None:
    cmds = parse_script("PIP_NO_CACHE_DIR=1 pip install x && pip install y", env={}, cwd="/")
    assert cmds[0].env["PIP_NO_CACHE_DIR"] == "1" and cmds[0].assigns == {"PIP_NO_CACHE_DIR": "1"}
    assert "PIP_NO_CACHE_DIR" not in cmds[1].env


def test_command_substitution_is_dynamic() -> None:
    (cmd,) = parse_script("pip install --target=$(cat /dest) `echo x` $((1+2))", env={}, cwd="/")
    assert [w.dynamic for w in cmd.argv] == [False, False, True, True, True]


def test_cd_changes_cwd_and_subshell_restores_it() -> None:
    cmds = parse_script("cd /app && npm ci; (cd sub && make); ls", env={}, cwd="/")
    by_name = {c.name: c.cwd for c in cmds}
    assert by_name["npm"] == "/app"
    assert by_name["make"] == "/app/sub"
    assert by_name["ls"] == "/app"


def test_sh_c_and_wrappers_are_looked_through() -> None:
    cmds = parse_script(
        "sh -ec 'pip install a && npm ci' && sudo -u app env X=1 yarn && bash -o pipefail -c \"go build\"",
        env={},
        cwd="/",
    )
    names = [c.name for c in cmds]
    assert names == ["sh", "pip", "npm", "yarn", "bash", "go"]
    yarn = cmds[names.index("yarn")]
    assert yarn.user == "app" and yarn.env["X"] == "1"


def test_child_shell_sees_only_exported_variables() -> None:
    cmds = parse_script("A=1; export B=2; sh -c 'echo $A $B'", env={}, cwd="/")
    echo = cmds[-1]
    assert echo.argv[1].dynamic and echo.argv[2].text == "2"


def test_control_flow_is_read_as_a_sequence() -> None:
    script = "if [ -f x ]; then pip install a; else npm ci; fi; for f in *.whl; do pip install $f; done"
    assert [c.name for c in parse_script(script, env={}, cwd="/")] == ["[", "pip", "npm", "pip"]


def test_case_bodies_are_skipped_and_functions_defined() -> None:
    script = "case $x in a) pip install a;; esac; f() { npm ci; }; f"
    assert [c.name for c in parse_script(script, env={}, cwd="/")] == ["npm", "f"]


def test_redirections_and_heredocs() -> None:
    script = 'cat <<EOF > /etc/apt/apt.conf.d/keep\nBinary::apt::APT::Keep-Downloaded-Packages "true";\nEOF\necho done 2>/dev/null >>/log'
    cat, echo = parse_script(script, env={}, cwd="/")
    assert [(r.op, r.target.text) for r in cat.redirects] == [(">", "/etc/apt/apt.conf.d/keep")]
    assert cat.stdin == ['Binary::apt::APT::Keep-Downloaded-Packages "true";\n']
    assert [(r.fd, r.op, r.target.text) for r in echo.redirects] == [
        (2, ">", "/dev/null"),
        (None, ">>", "/log"),
    ]
    assert [w.text for w in echo.argv] == ["echo", "done"]


def test_globs_are_marked() -> None:
    (rm,) = parse_script("rm -rf /var/lib/apt/lists/* '/q/*'", env={}, cwd="/")
    assert [(w.text, w.glob) for w in rm.argv[2:]] == [("/var/lib/apt/lists/*", True), ("/q/*", False)]


def test_exec_form() -> None:
    (c,) = command_from_argv(["pip", "install", "$NOT_EXPANDED"], env={}, cwd="/")
    assert c.args == ["install", "$NOT_EXPANDED"]
    names = [c.name for c in command_from_argv(["/bin/sh", "-c", "pip install a && npm ci"], env={}, cwd="/")]
    assert names == ["sh", "pip", "npm"]


@pytest.mark.parametrize(
    ("path", "cwd", "expected"),
    [
        ("node_modules", "/app", "/app/node_modules"),
        ("../x/./y/", "/a/b", "/a/x/y"),
        ("/abs//p/", "/z", "/abs/p"),
    ],
)
def test_resolve_path(path: str, cwd: str, expected: str) -> None:
    assert resolve_path(path, cwd) == expected
