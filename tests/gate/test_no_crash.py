"""Issue 8 item 1: never a traceback, never a hang (each class of the issue, reproduced first).

The CLI runs in a subprocess with a timeout (a hang fails the test); ``build.cli`` also fails on a
traceback or exit 70 (the last-resort handler: a bug).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from cacheinspect.cache.config import decode_config, decode_inline
from cacheinspect.errors import CacheInspectError, MalformedContentError
from cacheinspect.oci import ImageConfig, Manifest, decode, detect_manifest_type, sniff_media_type
from cacheinspect.sources.layout import LayoutSource
from cacheinspect.sources.targets import parse_target
from tests.gate.build import cli, registry_cache

FIX = Path(__file__).resolve().parents[2] / "fixtures"
DEEP = b'{"records":' + b"[" * 1200 + b"]" * 1200 + b"}"


@pytest.mark.parametrize(
    "decoder",
    [
        lambda b: decode_config(b),
        lambda b: decode(b, Manifest, what="m"),
        lambda b: decode(b, ImageConfig, what="c"),
        lambda b: detect_manifest_type(b),
        lambda b: sniff_media_type(b),
        lambda b: decode_inline(__import__("base64").b64encode(b).decode()),
    ],
)
@pytest.mark.parametrize("depth", [1200, 20000])
def test_deep_json_is_malformed_content_at_every_decode_site(decoder: object, depth: int) -> None:
    data = b'{"layers":' + b"[" * depth + b"]" * depth + b"}"
    try:
        decoder(data)  # type: ignore[operator]
    except MalformedContentError:
        pass  # refused like Go past its nesting limit (or decoded: both are fine, a crash is not)
    except CacheInspectError:
        pass


def test_deep_json_through_the_cli(tmp_path: Path) -> None:
    f = tmp_path / "cfg.json"
    f.write_bytes(DEEP)
    assert cli("inspect", str(f)).returncode == 6
    lay = registry_cache(tmp_path / "l", config=DEEP)
    assert cli("inspect", str(lay)).returncode == 6
    p = cli("audit", str(lay), "-f", "json", "-q")
    assert p.returncode == 1
    assert json.loads(p.stdout)["results"][0]["findings"][0]["code"] == "malformed-content"


def _root_blob(lay: Path) -> Path:
    idx = json.loads((lay / "index.json").read_text())
    return lay / "blobs" / "sha256" / idx["manifests"][0]["digest"][7:]


def _copy(tmp: Path) -> Path:
    dst = tmp / "l"
    shutil.copytree(FIX / "variant-gzip", dst)
    return dst


@pytest.mark.parametrize(
    "fault",
    [
        "dir-blob",
        "symlink-loop",
        "blobs-is-file",
        "fifo-blob",
        "fifo-index",
        "devzero",
        "devurandom",
        "outside",
    ],
)
def test_hostile_layouts_fail_cleanly_and_fast(tmp_path: Path, fault: str) -> None:
    lay = _copy(tmp_path)
    blob = _root_blob(lay)
    if fault == "dir-blob":
        blob.unlink()
        blob.mkdir()
    elif fault == "symlink-loop":
        blob.unlink()
        blob.symlink_to(blob.name)
    elif fault == "blobs-is-file":
        shutil.rmtree(lay / "blobs")
        (lay / "blobs").write_text("not a directory")
    elif fault == "fifo-blob":
        blob.unlink()
        os.mkfifo(blob)
    elif fault == "fifo-index":
        (lay / "index.json").unlink()
        os.mkfifo(lay / "index.json")
    elif fault == "devzero":
        blob.unlink()
        blob.symlink_to("/dev/zero")
    elif fault == "devurandom":
        blob.unlink()
        blob.symlink_to("/dev/urandom")
    elif fault == "outside":
        out = tmp_path / "outside"
        out.write_bytes(blob.read_bytes())
        blob.unlink()
        blob.symlink_to(out)
    for args in (["inspect", str(lay)], ["audit", str(lay), "-f", "json", "-q"]):
        p = cli(*args, timeout=30)
        assert p.returncode in (1, 2, 4, 6), (args, p.returncode, p.stderr)
        if args[0] == "inspect":
            assert p.stderr.startswith("error:") and p.stderr.count("\n") <= 2, p.stderr


def test_symlink_inside_the_layout_is_followed(tmp_path: Path) -> None:
    lay = _copy(tmp_path)
    blob = _root_blob(lay)
    (lay / "elsewhere").write_bytes(blob.read_bytes())
    blob.unlink()
    blob.symlink_to(lay / "elsewhere")
    assert cli("inspect", str(lay)).returncode == 0


def test_follow_links_lets_the_user_opt_in(tmp_path: Path) -> None:
    import asyncio

    lay = _copy(tmp_path)
    blob = _root_blob(lay)
    out = tmp_path / "outside"
    out.write_bytes(blob.read_bytes())
    blob.unlink()
    blob.symlink_to(out)
    with pytest.raises(MalformedContentError, match="out of the layout"):
        asyncio.run(LayoutSource(lay).fetch_manifest())
    assert asyncio.run(LayoutSource(lay, follow_links=True).fetch_manifest()).data == out.read_bytes()


def test_permission_denied_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root reads anything, so the EACCES of an unreadable blob is injected where the read happens
    import asyncio

    from cacheinspect.errors import UsageError

    lay = _copy(tmp_path)
    real_open = os.open

    def deny(path: object, flags: int, *a: object) -> int:
        if str(path).startswith(str(lay / "blobs")):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(UsageError, match="permission denied"):
        asyncio.run(LayoutSource(lay).fetch_manifest())


def test_size_cap_counts_bytes_read_not_st_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from cacheinspect.errors import SizeLimitError
    from cacheinspect.sources import layout as layout_mod

    lay = _copy(tmp_path)
    blob = _root_blob(lay)
    real_stat = os.stat

    class Small:
        def __init__(self, st: os.stat_result) -> None:
            self.st_mode, self.st_size = st.st_mode, 1

    monkeypatch.setattr(layout_mod.os, "stat", lambda p, *a, **k: Small(real_stat(p, *a, **k)))
    with pytest.raises(SizeLimitError):
        asyncio.run(LayoutSource(lay)._read_file(blob, 10, "blob"))


@pytest.mark.parametrize(
    "ref",
    [
        "a/" + "b" * 300,
        "registry.test/" + "c" * 300 + ":tag",
        "~nosuchuser123/x",
        "oci-layout://" + "x" * 300,  # ENAMETOOLONG from Path.exists() before the fix
        "x" * 300 + ".json",
        "./" + "x" * 300 + "/y",
    ],
)
def test_long_or_odd_paths_are_usage_errors(ref: str) -> None:
    with pytest.raises(CacheInspectError):
        parse_target(ref)
    assert cli("inspect", ref, "--timeout", "1").returncode == 2


def test_descriptor_size_beyond_float_range(tmp_path: Path) -> None:
    lay = registry_cache(tmp_path / "l")
    body = json.loads(_root_blob(lay).read_bytes())
    body["manifests"][0]["size"] = 10**400
    raw = json.dumps(body).encode()
    from tests.gate.build import Layout

    l2 = Layout(tmp_path / "l2")
    for b in (lay / "blobs" / "sha256").iterdir():
        l2.put(b.read_bytes())
    p = l2.finish(raw)
    for args in (["inspect", str(p)], ["audit", str(p), "-q"]):
        assert cli(*args).returncode in (1, 6)


def test_nul_and_odd_bytes_in_targets() -> None:
    assert cli("inspect", "oci-layout:///nonexistent\x01dir").returncode == 2


def test_local_config_file_cap_counts_bytes_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local config over FILE_MAX_BYTES is refused with SizeLimitError (exit 6); one at the cap loads."""
    import asyncio

    from cacheinspect.cache import load as load_mod
    from cacheinspect.errors import EXIT_INTEGRITY, SizeLimitError
    from cacheinspect.registry.options import RegistryOptions

    body = b'{"records":[' + b",".join([b"{}"] * 50) + b"]}"
    path = tmp_path / "cfg.json"
    path.write_bytes(body)
    monkeypatch.setattr(load_mod, "FILE_MAX_BYTES", len(body))
    assert len(asyncio.run(load_mod.load_target(str(path), RegistryOptions())).config.records or []) == 50
    monkeypatch.setattr(load_mod, "FILE_MAX_BYTES", len(body) - 1)
    with pytest.raises(SizeLimitError, match=f"over the {len(body) - 1}-byte cap") as info:
        asyncio.run(load_mod.load_target(str(path), RegistryOptions()))
    assert info.value.exit_code == EXIT_INTEGRITY
