"""Re-read every copy of one blob with one SHA-256: hash one copy, compare the others with it.

``verify --read-data`` must show that every copy of a digest holds the digest's bytes.
Hashing each copy costs a SHA-256 per copy, the CPU of the whole read-back. Reading the
copies side by side and comparing them byte for byte with the one being hashed (the
reference: the caller puts a local copy first) proves the same with one SHA-256 per
digest, since bytes equal to bytes that hash to the digest hash to it too.

A copy that parts from the reference (other bytes, shorter, longer) gets a hasher of its
own from that point: a copy of the reference's state before the chunk where they parted,
since everything before it was equal. So no byte is read twice, and a bad reference never
condemns a good copy: each verdict is a copy's own hash, or its equality with a copy whose
hash is right. A copy that parted waits for the reference's verdict: when the reference
is right, the copy is corrupt without reading its rest (a store that streams forever is
not waited for); else its rest is read and hashed. A reference that cannot be read to
its end hands its hash so far to the copies still equal to it, which go on alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from photosync.blobstore.base import CHUNK_SIZE, BlobReader, BlobStore, check_digest
from photosync.errors import PhotosyncError

#: why a copy is corrupt: its bytes do not hash to its digest (directly or by equality)
MISMATCH = "content does not match its SHA-256"


@dataclass
class CopyCheck:
    """One copy's verdict: ``corrupt`` (why) when its bytes are not the digest's, ``error``
    (why) when they could not be read; neither: intact."""

    corrupt: str | None = None
    error: str | None = None


class _Copy:
    """One copy being read: equal to the reference so far (``hasher`` None), or on its own."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.reader: BlobReader | None = None
        self.hasher: hashlib._Hash | None = None
        self.ended = False  # read to its end
        self.error: str | None = None

    def fail(self, error: BaseException) -> None:
        self.error = _why(error)
        self.close()

    def close(self) -> None:
        if self.reader is not None:
            reader, self.reader = self.reader, None
            with suppress(PhotosyncError, OSError):  # nothing more is read from it
                reader.close()

    def read(self, size: int) -> bytes | bytearray | None:
        """The next chunk; None once the copy cannot be read (``error`` says why)."""
        assert self.reader is not None
        try:
            chunk = self.reader.read(size)
        except (PhotosyncError, OSError) as error:
            self.fail(error)
            return None
        if len(chunk) < size:
            self.ended = True
        return chunk

    def finish(self, size: int) -> None:
        """Hash the rest of a copy that parted from the reference."""
        assert self.hasher is not None
        while not self.ended and self.reader is not None:
            chunk = self.read(size)
            if chunk is not None:
                self.hasher.update(chunk)


def _why(error: BaseException) -> str:
    if isinstance(error, OSError):
        return str(error.strerror or error)
    return str(error)


def check_copies(
    digest: str, stores: Sequence[BlobStore], *, chunk: int = CHUNK_SIZE
) -> list[CopyCheck]:
    """Read ``digest`` in each store side by side: one verdict per store, in order.

    The first copy that opens is the reference, hashed; the others are compared with it
    chunk by chunk (module docstring). Memory: a chunk per copy.
    """
    bare = check_digest(digest)
    copies = [_Copy(store) for store in stores]
    try:
        for copy in copies:
            try:
                copy.reader = copy.store.reader(bare)
            except (PhotosyncError, OSError) as error:
                copy.fail(error)
        return _lockstep(bare, copies, chunk)
    finally:
        for copy in copies:
            copy.close()


def _lockstep(bare: str, copies: list[_Copy], chunk: int) -> list[CopyCheck]:
    readable = [c for c in copies if c.reader is not None]
    if not readable:
        return [CopyCheck(error=c.error) for c in copies]
    reference, others = readable[0], readable[1:]
    hasher = hashlib.sha256()
    while not reference.ended:
        block = reference.read(chunk)
        if block is None:  # the reference failed: the copies equal so far go on alone
            for copy in others:
                if copy.hasher is None and copy.error is None:
                    copy.hasher = hasher.copy()
            break
        for copy in others:
            if copy.hasher is not None or copy.ended or copy.error is not None:
                continue  # parted (waits for the reference's verdict), ended or failed
            theirs = copy.read(chunk)
            # bytes/bytearray: ``==`` is memcmp (a memoryview would compare byte by byte)
            if theirs is None or theirs == block:
                continue
            copy.hasher = hasher.copy()  # equal up to this chunk
            copy.hasher.update(theirs)
        hasher.update(block)
    intact = reference.error is None and hasher.hexdigest() == bare
    verdicts = []
    for copy in copies:
        if copy is reference or copy.hasher is None:  # equal to it, end included
            verdicts.append(_verdict(copy.error, intact))
        elif intact:  # parted from bytes that are the digest's
            copy.close()
            verdicts.append(CopyCheck(corrupt=MISMATCH))
        else:
            copy.finish(chunk)
            verdicts.append(_verdict(copy.error, copy.hasher.hexdigest() == bare))
    return verdicts


def _verdict(error: str | None, intact: bool) -> CopyCheck:
    if error is not None:
        return CopyCheck(error=error)
    return CopyCheck() if intact else CopyCheck(corrupt=MISMATCH)
