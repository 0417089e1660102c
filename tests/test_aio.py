"""cacheinspect._aio: local sources' coroutines without an event loop, and gather inside or outside one."""

from __future__ import annotations

import asyncio

import pytest

from cacheinspect._aio import LoopRequiredError, gather, run_local


async def _value(v: int, seen: list[int]) -> int:
    seen.append(v)
    return v * 10


async def _fail(seen: list[int]) -> int:
    seen.append(-1)
    raise ValueError("boom")


def test_run_local_returns_the_coroutines_value_without_a_loop() -> None:
    seen: list[int] = []

    async def main() -> list[int]:
        return await gather(_value(1, seen), _value(2, seen), _value(3, seen))

    assert run_local(main()) == [10, 20, 30]
    assert seen == [1, 2, 3]  # in the order given, as the loop would start them


def test_outside_a_loop_the_first_error_in_order_is_raised() -> None:
    seen: list[int] = []

    async def main() -> list[int]:
        return await gather(_value(1, seen), _fail(seen), _value(3, seen))

    with pytest.raises(ValueError, match="boom"):
        run_local(main())
    assert seen == [1, -1, 3]  # every one ran, as tasks in a loop would; none is left un-awaited


def test_a_coroutine_that_suspends_is_a_bug_and_is_closed() -> None:
    closed: list[bool] = []

    async def needs_a_loop() -> int:
        try:
            await asyncio.sleep(0)  # yields to the (absent) loop
            return 1
        finally:
            closed.append(True)

    with pytest.raises(LoopRequiredError):
        run_local(needs_a_loop())
    assert closed == [True]  # never left half-run


def test_inside_a_running_loop_gather_is_asyncios() -> None:
    order: list[str] = []

    async def slow(name: str, delay: float) -> str:
        await asyncio.sleep(delay)
        order.append(name)
        return name

    async def main() -> list[str]:
        return await gather(slow("a", 0.05), slow("b", 0.0))

    assert asyncio.run(main()) == ["a", "b"]  # results in argument order
    assert order == ["b", "a"]  # but run concurrently: b finished first


def test_empty_gather() -> None:
    async def main() -> list[int]:
        return await gather()

    assert run_local(main()) == []
    assert asyncio.run(main()) == []
