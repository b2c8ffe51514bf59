"""Errors a user can act on, each with the exit code the CLI documents.

Anything that is not a ``PhotosyncError`` is a bug and is reported as one.
"""

from __future__ import annotations

from photosync.redaction import redact_text


def shown_url(url: object) -> str:
    """A URL as an error message may show it: ``user:password@``, a credential's
    query parameter (``?password=``, ``X-Amz-Signature=``) and token shapes never are."""
    return repr(redact_text(str(url)))


class ExitCode:
    OK = 0
    INTERNAL = 1
    USAGE = 2
    USER_ERROR = 3  # bad archive, config, argument value
    PARTIAL = 4  # the run finished but some items failed; a re-run retries them
    LOCKED = 5  # another photosync run holds the archive
    CHECK_FAILED = 6  # verify / audit found problems
    SERVICE = 7  # a service could not be reached or refused us
    INTERRUPTED = 130


class InternalError(Exception):
    """photosync contradicts itself (an id it just listed is gone): a bug, never the
    user's doing, so deliberately not a ``PhotosyncError``: exit 1, please report."""


class PhotosyncError(Exception):
    exit_code = ExitCode.USER_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ArchiveNotFound(PhotosyncError):
    pass


class ArchiveCorrupt(PhotosyncError):
    pass


class ConfigError(PhotosyncError):
    pass


class ArchiveLocked(PhotosyncError):
    exit_code = ExitCode.LOCKED


class RecordInvalid(PhotosyncError):
    pass


class UserChanged(PhotosyncError):
    """A file photosync would write holds a change the user made and has not committed."""


class BlobError(PhotosyncError):
    """A blob is missing, corrupt, or a store refused it."""


class ChecksumMismatch(BlobError):
    pass


class ServiceError(PhotosyncError):
    exit_code = ExitCode.SERVICE

    def __init__(self, message: str, *, transient: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.transient = transient


class AuthError(ServiceError):
    pass


class ItemUnavailable(ServiceError):
    """One item cannot be fetched (hidden, deleted, not downloadable); the run goes on."""


class ItemRefused(ItemUnavailable):
    """The service refuses this one item for good (a file type it does not take, an
    original it never hands out): retrying cannot help, so photosync records the
    refusal and asks again only with ``--retry-failed`` or when the item changes."""


class NotRegularFile(ItemUnavailable):
    """A FIFO, device, socket or symlink where a photo file was: never read (reading a
    FIFO would wait forever); the item fails with this reason and is retried."""
