"""How the phases report progress without printing: the CLI passes a sink."""

from __future__ import annotations

from typing import Protocol

#: items a report keeps to show (planned actions, waiting photos, rules' decisions), at
#: most; its counts are whole: a pass over a million photos must not hold a million
#: lines in memory
KEPT = 1000


class Progress(Protocol):
    def start(self, label: str, total: int | None = None) -> None: ...

    def advance(self, count: int = 1) -> None: ...

    def note(self, message: str) -> None: ...

    def finish(self) -> None: ...


class SilentProgress:
    """The default: record notes, show nothing."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def start(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, count: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)

    def finish(self) -> None:
        pass
