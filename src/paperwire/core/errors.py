"""Errors: one type per subsystem, each an expected failure with a message for a person, and
the exit code the command line gives for it (one place: :data:`EXIT_CODES`)."""

from __future__ import annotations

from enum import IntEnum


class PaperwireError(Exception):
    """An expected failure: its message says what went wrong and what to do."""


class ConfigError(PaperwireError, ValueError):
    """A setting has a value of the wrong type, or the settings file is unreadable."""


class StoreError(PaperwireError, RuntimeError):
    """A database problem the caller should report, not a bug."""


class TimeBudgetExceeded(PaperwireError, RuntimeError):
    """A query ran past its time budget (``search_time_budget_ms``) and was stopped by the
    database."""


class RecordRefused(StoreError):
    """The database refused what was written (a constraint, a value it cannot hold): the
    data's fault, unlike a database that is down or locked. ``kind``: the driver's name for
    the refusal (IntegrityError, DataError, …)."""

    def __init__(self, kind: str, message: str = ""):
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind


class SourceError(PaperwireError, RuntimeError):
    """A source failed for good (after retries) or answered with something unusable."""


class SourceUnavailable(SourceError):
    """A source could not be asked right now (unreachable, too slow, busy, a 5xx): worth
    trying again later. ``reason`` says what happened in words for people, e.g. "did not
    answer in time"."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class JobError(PaperwireError, RuntimeError):
    """A queued job could not be done this time. Its message is for the person who asked for
    the job; ``permanent`` when trying again will not help (the job ends as failed)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class InvalidArxivId(PaperwireError, ValueError):
    """The text is not an arXiv identifier."""


class CollectionRefused(PaperwireError, ValueError):
    """A collection write past a limit (name, description or note length, collections per
    user, papers per collection) or with an invalid value; the message says which."""


class PeriodError(PaperwireError, ValueError):
    """A date, week, month or time zone that cannot be read; the message says what is
    expected."""


class BadRecord(PaperwireError, ValueError):
    """One input record cannot be used; the rest of the input is unaffected."""

    def __init__(self, message: str, where: str = ""):
        super().__init__(message)
        self.where = where

    def __str__(self) -> str:
        msg = super().__str__()
        return f"{self.where}: {msg}" if self.where else msg


class UnknownSource(PaperwireError, LookupError):
    """A record names a source that no plugin registered (so nobody said how far to trust
    it)."""


class ModelError(PaperwireError, RuntimeError):
    """The embedding model is missing or cannot be built."""


class MailError(PaperwireError, RuntimeError):
    """The message could not be handed over; ``permanent`` when retrying will not help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class ExitCode(IntEnum):
    """What the command line exits with, for cron jobs (documented in the README)."""

    OK = 0
    PARTIAL = 1  # finished, but some records were skipped
    USAGE = 2
    SOURCE = 3  # a source failed (network, HTTP status, bad feed or file)
    DATABASE = 4
    CONFIG = 5


EXIT_CODES: dict[type[PaperwireError], ExitCode] = {
    SourceError: ExitCode.SOURCE,
    StoreError: ExitCode.DATABASE,
    ConfigError: ExitCode.CONFIG,
    ModelError: ExitCode.CONFIG,
    UnknownSource: ExitCode.CONFIG,
    MailError: ExitCode.SOURCE,
}
