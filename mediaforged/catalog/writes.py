"""Writes of any kind for the single writer: a function it runs inside its transaction.

``CatalogWriter.transaction`` queues a ``Write``; the writer runs it in a savepoint among the
batch's other work, and hands its result (or exception) over only once the transaction of
that very run has committed, so a rolled-back attempt never answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog.db import StorageProblem, storage_error
from mediaforged.catalog.identity import Observation

__all__ = ["Entry", "Write", "category", "fail_all", "log_failure", "storage_problem"]

log = structlog.get_logger("mediaforged.writer")
T = TypeVar("T")

# What ``status`` says when the catalog cannot be written, by db.storage_error's kind.
_STORAGE_PROBLEMS: dict[StorageProblem, str] = {
    "full": "catalog disk full",
    "read-only": "catalog is read-only",
    "I/O": "catalog I/O error",
}


def storage_problem(exc: DBAPIError) -> str | None:
    """What stops the catalog from being written, when it is the storage and not a bug."""
    problem = None if exc.orig is None else storage_error(exc.orig)
    return None if problem is None else _STORAGE_PROBLEMS[problem]


class Write(Generic[T]):
    """A function the writer runs in its transaction; its outcome reaches ``future`` only
    once the transaction of the run that produced it has committed."""

    __slots__ = ("_error", "_result", "durable", "fn", "future", "recount", "withdrawn")

    def __init__(
        self,
        fn: Callable[[AsyncConnection], Awaitable[T]],
        future: asyncio.Future[T],
        *,
        durable: bool = False,
        recount: bool = True,
    ) -> None:
        self.fn = fn
        self.future = future
        self.durable = durable
        self.recount = recount
        self.withdrawn = False  # refused before it committed: the writer skips it
        self._result: T | None = None
        self._error: BaseException | None = None

    async def attempt(self, conn: AsyncConnection) -> None:
        """Run ``fn`` in a savepoint: an exception undoes its own writes and is kept for the
        caller; the batch goes on. A storage problem is the batch's: it is raised."""
        self._result, self._error = None, None
        try:
            async with conn.begin_nested():
                self._result = await self.fn(conn)
        except DBAPIError as exc:
            if storage_problem(exc) is not None:
                raise
            self._error = exc
        except Exception as exc:
            self._error = exc

    def settle(self) -> None:
        """The transaction of the last attempt committed: hand over its outcome."""
        if self._error is not None:
            self.fail(self._error)
        elif not self.future.done():
            self.future.set_result(cast(T, self._result))

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    def withdraw(self, error: BaseException) -> None:
        """Refuse it now: the caller gets ``error`` and the writer never runs it again."""
        self.withdrawn = True
        self.fail(error)


Entry = Observation | Write[Any]


def category(entry: Entry) -> str:
    """Runs of one category are written together, in the order they came."""
    if isinstance(entry, Write):
        return "write"
    return "gone" if entry.kind == "gone" else "upsert"


def fail_all(entries: list[Entry], exc: BaseException) -> None:
    """The writes among ``entries`` will not commit: their callers get ``exc``."""
    for entry in entries:
        if isinstance(entry, Write):
            entry.fail(exc)


def log_failure(future: asyncio.Future[Any]) -> None:
    """Nobody waits on a submitted write: its failure is logged."""
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("write_failed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
