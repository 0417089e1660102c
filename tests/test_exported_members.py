"""The public API: everything in ``cacheinspect.__all__`` exists and says where it lives."""

from __future__ import annotations

import cacheinspect


def test_all_exported_members_exist_and_are_documented() -> None:
    for name in cacheinspect.__all__:
        member = getattr(cacheinspect, name)
        if callable(member) and not name.startswith("__"):
            assert getattr(member, "__doc__", None), f"{name} has no docstring"
            assert getattr(member, "__module__", "").startswith("cacheinspect"), name


def test_no_public_name_is_missing_from_all() -> None:
    public = {n for n in vars(cacheinspect) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(cacheinspect, n)).__name__ == "module"}
    assert public - modules - {"annotations"} <= set(cacheinspect.__all__)


def test_package_root_is_lazy() -> None:
    """``import cacheinspect`` and the CLI's --help must not pay for httpx, asyncio or msgspec."""
    import subprocess
    import sys

    code = (
        "import sys, cacheinspect, cacheinspect.cli; "
        "print(sorted(m for m in ('httpx', 'msgspec', 'asyncio', 'tabulate') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
