"""`du` / `gc simulate` on the command line: formats, the JSON schema, and one-line daemon errors."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from cacheinspect.cli import main
from cacheinspect.errors import EXIT_INTEGRITY, EXIT_REGISTRY, EXIT_USAGE
from cacheinspect.gc.daemon import resolve_endpoint

DATA = Path(__file__).parent / "data"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def test_du_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["du", str(DATA / "engine-df.json")], capsys)
    assert code == 0 and "└─ " in out and "15 records" in out and "exec.cachemount" in out
    code, out, _ = run(["du", str(DATA / "engine-df.json"), "-f", "json"], capsys)
    doc = json.loads(out)
    assert doc["schema"] == "cacheinspect.du/v1" and len(doc["records"]) == 15
    raw = json.loads((DATA / "engine-df.json").read_text())["BuildCache"]
    assert doc["total"] == sum(r["Size"] for r in raw)
    assert doc["reclaimable"] == sum(r["Size"] for r in raw if not r["Shared"] and not r["InUse"])
    code, out, _ = run(["du", str(DATA / "engine-df.json"), "-f", "markdown"], capsys)
    assert out.startswith("| ID")


def test_simulate_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    cmd = "docker builder prune -f --filter type=exec.cachemount"
    code, out, _ = run(
        [
            "gc",
            "simulate",
            str(DATA / "engine-df.json"),
            "--prune",
            cmd,
            "--buildkit-version",
            "v0.13",
            "-f",
            "json",
        ],
        capsys,
    )
    assert code == 0
    doc = json.loads(out)
    assert set(doc) >= {"schema", "buildkit_version", "rules", "deleted", "kept", "ties"}
    assert doc["schema"] == "cacheinspect.gc-simulate/v1" and doc["buildkit_version"] == "v0.13"
    raw = json.loads((DATA / "engine-df.json").read_text())["BuildCache"]
    mounts = {r["ID"] for r in raw if r["Type"] == "exec.cachemount" and not r["InUse"]}
    assert set(doc["deleted"]) == mounts
    (rule,) = doc["rules"]
    assert {d["id"] for d in rule["deleted"]} == mounts and rule["bytes"] == sum(
        r["Size"] for r in raw if r["ID"] in mounts
    )
    assert all(set(d) >= {"id", "type", "size", "reason"} for d in rule["deleted"])
    assert all(set(k) == {"id", "why"} for k in doc["kept"])


def test_simulate_default_policy_needs_disk(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["gc", "simulate", str(DATA / "engine-df.json"), "--docker-version", "26.1"], capsys)
    assert code == EXIT_USAGE and err.startswith("error: ") and "--disk-size" in err
    code, out, _ = run(
        ["gc", "simulate", str(DATA / "engine-df.json"), "--docker-version", "26.1", "--disk-size", "100GB",
         "--disk-free", "50GB"],
        capsys,
    )  # fmt: skip
    assert code == 0 and "rule 4" in out


def test_malformed_dump_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "du.json"
    f.write_text('{"BuildCache": [{"ID": "a", "Size": "big"}]}')
    code, _, err = run(["du", str(f)], capsys)
    assert code == EXIT_INTEGRITY
    assert err.strip() == f'error: {f}: $.BuildCache[0].Size: expected an integer, got "big"'


def test_absent_daemon(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    code, _, err = run(["du"], capsys)
    assert code == EXIT_REGISTRY
    first = err.splitlines()[0]
    assert (
        first
        == f"error: cannot connect to the Docker daemon at unix://{tmp_path}/nothing.sock (DOCKER_HOST): no socket there"
    )


def test_refused_socket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "d.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))  # bound, never listening: connect() gets ECONNREFUSED
    try:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        code, _, err = run(["gc", "simulate", "--prune", "docker builder prune -f"], capsys)
    finally:
        s.close()
    assert code == EXIT_REGISTRY and "connection refused" in err.splitlines()[0]


class _OldDocker(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"Version": "20.10.24", "ApiVersion": "1.41"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _UnixHTTP(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # type: ignore[no-untyped-def]
        req, _ = super().get_request()
        return req, ("local", 0)


@pytest.fixture
def old_daemon(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "old.sock")
    srv = _UnixHTTP(path, _OldDocker)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield path
    srv.shutdown()
    srv.server_close()


def test_api_without_type_param(
    old_daemon: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{old_daemon}")
    code, _, err = run(["du"], capsys)
    assert code == EXIT_REGISTRY
    assert err.splitlines()[0] == (
        f"error: Docker daemon at unix://{old_daemon} speaks API 1.41 (Docker 20.10.24): "
        "GET /system/df?type=build-cache needs API 1.42 (Docker 23.0) or newer"
    )


def test_endpoint_from_context(tmp_path: Path) -> None:
    import hashlib

    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "remote", "Endpoints": {"docker": {"Host": "tcp://10.0.0.5:2376"}}})
    )
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    ep = resolve_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert (ep.host, ep.origin) == ("tcp://10.0.0.5:2376", "context remote")
    assert (
        resolve_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "unix:///x.sock"}).origin
        == "DOCKER_HOST"
    )
    assert resolve_endpoint({"DOCKER_CONFIG": str(tmp_path / "none")}).host == "unix:///var/run/docker.sock"
