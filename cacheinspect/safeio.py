"""Bounded reads of the user's local input files: the one rule every command applies to a file it is given.

A Dockerfile, ``.dockerignore``, dump, policy, fingerprint or config the user names may be a FIFO (an
``open`` would block forever), a link to ``/dev/zero`` (a read would never end) or a huge file by mistake.
So a file is opened non-blocking, its type is checked on the open descriptor (no stat/open race), and the
read is capped by the bytes actually read, not by ``st_size`` (which a device or ``/proc`` file reports as 0).
Every failure is one :class:`~cacheinspect.errors.UsageError` (exit 2) or
:class:`~cacheinspect.errors.SizeLimitError` (exit 6) line naming the file; nothing else escapes.
"""

from __future__ import annotations

import os
import stat

from cacheinspect.errors import SizeLimitError, UsageError

__all__ = ["DEFAULT_MAX_INPUT_BYTES", "read_capped", "read_local_file", "read_local_text"]

#: Default cap for an input file that is text written by a person or a tool (Dockerfile, policy, dump):
#: 256 MiB is far above any real one and far below the machine's memory.
DEFAULT_MAX_INPUT_BYTES = 256 << 20

_CHUNK = 1 << 20


def read_local_file(
    path: str | os.PathLike[str], *, what: str = "file", max_bytes: int = DEFAULT_MAX_INPUT_BYTES
) -> bytes:
    """The bytes of the regular file at ``path`` (links followed), at most ``max_bytes`` of them.

    Raises UsageError (missing, unreadable, a directory, FIFO, socket or device) or SizeLimitError (over
    the cap). ``what`` names the file's role in messages ("Dockerfile", "policy file").
    """
    name = os.fsdecode(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {what} {name!r}: {getattr(e, 'strerror', None) or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(mode)
                else "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "not a regular file"
            )
            raise UsageError(f"{what} {name!r} is {kind}, not a regular file")
        data = read_capped(fd, max_bytes)
        if data is None:
            raise SizeLimitError(f"{what} {name!r} is over the {max_bytes}-byte cap")
    except OSError as e:
        raise UsageError(f"cannot read {what} {name!r}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    return data


def read_capped(fd: int, max_bytes: int) -> bytes | None:
    """Everything left to read on *fd*, or None as soon as it is more than ``max_bytes``.

    The cap counts bytes actually read, never ``st_size`` (a device or ``/proc`` file says 0), and at
    most ``max_bytes + 1`` are ever held. One loop for every capped local read (the layout reader uses it
    too), so the rule cannot drift between them. OSError propagates: the caller names the file.
    """
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            return None


def read_local_text(
    path: str | os.PathLike[str], *, what: str = "file", max_bytes: int = DEFAULT_MAX_INPUT_BYTES
) -> str:
    """:func:`read_local_file` decoded as UTF-8; invalid bytes are a UsageError, never a traceback."""
    data = read_local_file(path, what=what, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{what} {os.fsdecode(path)!r} is not UTF-8 text (byte {e.start})") from None
