"""The bounded-read rule for local input files (cacheinspect.safeio): FIFOs, devices, directories, caps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cacheinspect.errors import SizeLimitError, UsageError
from cacheinspect.safeio import read_local_file, read_local_text


def test_regular_file_is_read_whole(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc" * 1000)
    assert read_local_file(p) == b"abc" * 1000


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    p = tmp_path / "fifo"
    os.mkfifo(p)
    with pytest.raises(UsageError, match="FIFO"):
        read_local_file(p, what="Dockerfile")


def test_link_to_dev_zero_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "z"
    p.symlink_to("/dev/zero")
    with pytest.raises(UsageError, match="device"):
        read_local_file(p)


def test_directory_and_missing_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="directory"):
        read_local_file(tmp_path)
    with pytest.raises(UsageError, match="cannot read"):
        read_local_file(tmp_path / "nope")


def test_cap_counts_bytes_read(tmp_path: Path) -> None:
    p = tmp_path / "big"
    p.write_bytes(b"x" * 11)
    assert read_local_file(p, max_bytes=11) == b"x" * 11
    with pytest.raises(SizeLimitError):
        read_local_file(p, max_bytes=10)


def test_text_rejects_invalid_utf8(tmp_path: Path) -> None:
    p = tmp_path / "t"
    p.write_bytes(b"ok\xff")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_local_text(p)
