"""Exit codes and the errors that carry them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # a failure, or some inputs could not be ingested
    USAGE = 2  # bad options or arguments
    FINDINGS = 3  # `check`/`report`: a finding at or above --fail-on
    INTEGRITY = 4  # `verify`: the store or a checkpoint does not verify
    BUSY = 5  # the database is held by another writer
    DENIED = 6  # the user's role does not allow the command (config access.roles)


class AuditctlError(Exception):
    """An error shown to the user as one line, with an exit code."""

    exit_code: ExitCode = ExitCode.ERROR


class UsageError(AuditctlError):
    exit_code = ExitCode.USAGE


class DatabaseBusy(AuditctlError):
    exit_code = ExitCode.BUSY


class ConfigError(AuditctlError):
    exit_code = ExitCode.USAGE
