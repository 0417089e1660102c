"""typer's declaration vocabulary, recorded without importing typer.

The command modules declare their commands with ``typer.Typer``, ``@app.command``, ``typer.Option`` and
``typer.Argument``, and end a run with ``raise typer.Exit(code)``. They import this module *as*
``typer`` (``from cacheinspect.cli import _fastdecl as typer``): the declarations are recorded here, and

* :func:`cacheinspect.cli.build_app` replays the records onto real typer objects (:func:`replay`), so
  ``--help``, completion and every argv the fast path does not take are typer's, unchanged;
* the fast path (``cli/_fastrun.py``) finds the command's function in the records and calls it with the
  values typer would pass, without importing typer (``import typer`` alone costs ~4x a bare interpreter
  start, more than most small runs do in all).

Only the calls the command modules make are recorded; a call this module does not know is an
AttributeError at import, never a silent difference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Argument", "Decl", "Exit", "Option", "Typer", "replay"]

F = TypeVar("F", bound=Callable[..., Any])


class Decl:
    """One ``typer.Option(...)`` or ``typer.Argument(...)`` call, to be made on typer by :func:`replay`."""

    __slots__ = ("args", "kind", "kwargs")

    def __init__(self, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.kind = kind
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"typer.{self.kind}(*{self.args!r}, **{self.kwargs!r})"


def Option(*args: Any, **kwargs: Any) -> Any:
    return Decl("Option", args, kwargs)


def Argument(*args: Any, **kwargs: Any) -> Any:
    return Decl("Argument", args, kwargs)


class Exit(Exception):
    """``raise typer.Exit(code)`` in a command body: end the run with *code* (both paths; see cli.main)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.exit_code = code


class Typer:
    """A recorded ``typer.Typer(...)``: its arguments, and its commands, callbacks and sub-apps in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        #: ("command" | "callback", args, kwargs, function) or ("add_typer", (sub,), kwargs, None)
        self.ops: list[tuple[str, tuple[Any, ...], dict[str, Any], Any]] = []

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        def record(f: F) -> F:
            self.ops.append(("command", args, kwargs, f))
            return f

        return record

    def callback(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        def record(f: F) -> F:
            self.ops.append(("callback", args, kwargs, f))
            return f

        return record

    def add_typer(self, sub: Typer, **kwargs: Any) -> None:
        self.ops.append(("add_typer", (sub,), kwargs, None))

    def functions(self, path: tuple[str, ...] = ()) -> dict[tuple[tuple[str, ...], str], Callable[..., Any]]:
        """Every command function under this app: ``{(group path, function name): function}``."""
        out: dict[tuple[tuple[str, ...], str], Callable[..., Any]] = {}
        for op, args, kwargs, f in self.ops:
            if op == "command":
                if (path, f.__name__) in out:  # the fast path finds a command by its function's name
                    raise ValueError(f"two commands of {' '.join(path) or 'cacheinspect'} are {f.__name__}()")
                out[(path, f.__name__)] = f
            elif op == "add_typer" and isinstance(args[0], Typer):
                sub: Typer = args[0]
                name = kwargs.get("name") or sub.kwargs.get("name")
                out.update(sub.functions((*path, str(name))))
        return out


def _materialize(f: Callable[..., Any]) -> Callable[..., Any]:
    """*f* with every recorded Option/Argument in its annotations made a real typer one (in place:
    typer reads ``__annotations__``; a second replay finds nothing left to convert)."""
    import typing

    import typer

    def real(meta: Any) -> Any:
        return getattr(typer, meta.kind)(*meta.args, **meta.kwargs) if isinstance(meta, Decl) else meta

    hints = typing.get_type_hints(f, include_extras=True)
    for name, hint in hints.items():
        if typing.get_origin(hint) is typing.Annotated:
            base, *meta = typing.get_args(hint)
            hints[name] = typing.Annotated[(base, *(real(m) for m in meta))]
    f.__annotations__ = hints
    return f


def replay(rec: Typer, app: Any) -> None:
    """Make on the real typer app *app* every call recorded on *rec*, sub-apps included."""
    import typer

    for op, args, kwargs, f in rec.ops:
        if op == "command":
            app.command(*args, **kwargs)(_materialize(f))
        elif op == "callback":
            app.callback(*args, **kwargs)(_materialize(f))
        elif isinstance(args[0], Typer):
            sub: Typer = args[0]
            real = typer.Typer(*sub.args, **sub.kwargs)
            replay(sub, real)
            app.add_typer(real, **kwargs)
        else:  # a real typer.Typer from a module that imports typer itself: typer's path only
            app.add_typer(args[0], **kwargs)
