"""Opening an archive's services and blob stores for a run; what a pass depends on."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import photosync
from photosync.archive.archive import Archive
from photosync.blobstore.base import BlobStore
from photosync.blobstore.local import LocalBlobStore
from photosync.errors import ConfigError
from photosync.model import SELECTOR_FORMS, selector_mistakes
from photosync.services.base import Service
from photosync.services.registry import make_service


def blob_locations(archive: Archive) -> list[dict[str, Any]]:
    storage = archive.preferences()["blob_storage"]
    locations = storage.get("locations") or [
        {"name": "local", "type": "local", "path": storage.get("local_path") or "blobs"}
    ]
    names = [loc.get("name") for loc in locations]
    if len(set(names)) != len(names) or not all(names):
        raise ConfigError("blob_storage.locations needs a unique name for every location")
    # the primary first: everything that asks for "the first local location" finds it
    primary = storage.get("primary")
    return sorted(locations, key=lambda loc: loc.get("name") != primary)


def make_store(archive: Archive, spec: dict[str, Any]) -> BlobStore:
    if spec.get("type", "local") == "local":
        return _local_store(archive, spec)
    try:
        from photosync.blobstore.registry import make_blob_store
    except ImportError as error:  # pragma: no cover - while a backend is missing
        raise ConfigError(f"blob store type {spec.get('type')!r} is not available") from error
    return make_blob_store(spec["name"], spec, archive.root)


def primary_store(archive: Archive) -> LocalBlobStore:
    """The local store discover writes originals into (``blob_storage.primary``)."""
    primary = archive.prefs().primary_location
    for spec in blob_locations(archive):
        if spec.get("name") == primary and spec.get("type", "local") == "local":
            return _local_store(archive, spec)
    raise ConfigError(
        "blob_storage needs one local location: discover stores originals there first"
    )


def _local_store(archive: Archive, spec: dict[str, Any]) -> LocalBlobStore:
    path = Path(spec.get("path") or "blobs").expanduser()
    return LocalBlobStore(path if path.is_absolute() else archive.root / path, spec["name"])


def all_stores(archive: Archive) -> list[BlobStore]:
    return [make_store(archive, spec) for spec in blob_locations(archive)]


def folder_here(archive: Archive, name: str, settings: dict[str, Any]) -> str | None:
    """Where folder service NAME's folder is on this machine; None when it is not here.

    Here means: ``service locate`` said where (``.photosync/machine.json``); or the
    folder ``config/services.json`` names is this machine's: the service was added in
    this clone, or this clone listed it before (its seen-cache) — there a vanished folder
    is a missing drive, an error, never "elsewhere" — or that folder exists here too (for
    a target: or the folder it goes in; replicate makes it). The same path on two
    machines is taken for the same folder (a shared mount).
    """
    located = archive.machine_paths().get(name)
    if located is not None:
        return located
    configured = str(settings["path"])
    folder = Path(configured).expanduser()
    if (
        name in archive.added_here()
        or archive.state.has_seen(name)
        or folder.is_dir()
        or (settings.get("target") and folder.parent.is_dir())
    ):
        return configured
    return None


def not_here_message(name: str, settings: dict[str, Any]) -> str:
    return (
        f"{name}: its folder {settings.get('path')} is not on this machine (it does not exist "
        "here), so it was skipped: a missing drive is not an empty library. Say where it is "
        f"here with `photosync service locate {name} PATH`, or mount the drive it is on"
    )


def refuse_unusable(
    archive: Archive, names: Iterable[str], *, configured_only: bool = True
) -> None:
    """A service named by the user must be enabled: a retired one is neither read nor
    written, whether discover lists it or reads its Takeout. ``configured_only=False``:
    a name not configured at all is fine (a Takeout read before its service is added)."""
    configured = archive.services()
    names = list(names)
    unknown = [name for name in names if name not in configured]
    if unknown and configured_only:
        raise ConfigError(
            f"no service named {', '.join(unknown)}",
            hint="See `photosync service list`.",
        )
    retired = [name for name in names if not configured.get(name, {}).get("enabled", True)]
    if retired:
        raise ConfigError(
            f"service {', '.join(retired)} is disabled (retired with `service disable`)",
            hint=f"It is not read or written any more; `photosync service enable {retired[0]}` brings it back.",
        )


@contextmanager
def open_services(
    archive: Archive, names: list[str] | None = None, *, not_here: dict[str, str] | None = None
) -> Iterator[dict[str, Service]]:
    """The enabled services (or ``names``), opened. A folder service whose folder is not
    on this machine (``folder_here``) is left out, with why in ``not_here``."""
    configured = archive.services()
    if names:
        refuse_unusable(archive, names)
    selected = {
        name: settings
        for name, settings in sorted(configured.items())
        if (not names or name in names) and settings.get("enabled", True)
    }
    opened: dict[str, Service] = {}
    try:
        for name, settings in selected.items():
            if "path" in settings:
                here = folder_here(archive, name, settings)
                if here is None:
                    if not_here is not None:
                        not_here[name] = not_here_message(name, settings)
                    continue
                settings = {**settings, "path": here}  # this machine's folder
            opened[name] = make_service(name, settings)
        yield opened
    finally:
        for service in opened.values():
            service.close()


def service_folders(archive: Archive) -> dict[str, str | None]:
    """Per folder service, its folder on this machine (None: not on this machine)."""
    return {
        name: folder_here(archive, name, settings)
        for name, settings in sorted(archive.services().items())
        if "path" in settings
    }


def locate_service(archive: Archive, name: str, path: Path) -> str:
    """Say where service NAME's folder is on this machine (kept out of git: another
    machine's path in config/services.json stays as it is). Returns the path kept."""
    configured = archive.services()
    if name not in configured:
        raise ConfigError(f"no service named {name}", hint="See `photosync service list`.")
    if "path" not in configured[name]:
        raise ConfigError(f"service {name} has no folder (it is not a folder or an export)")
    where = path.expanduser().resolve()
    if not where.exists():
        raise ConfigError(f"{where} does not exist on this machine")
    archive.save_machine_path(name, str(where))
    return str(where)


def check_selectors(archive: Archive, only: Sequence[str]) -> None:
    """A ``--only`` that cannot match (malformed, an unknown photo id or album) is the
    user's mistake, not "nothing to do": say so before any work."""
    if not only:
        return
    mistakes = selector_mistakes(archive.iter_records(), only)
    if mistakes:
        raise ConfigError("; ".join(mistakes), hint=f"--only takes {SELECTOR_FORMS}.")


def check_service_name(archive: Archive, name: str) -> None:
    """An unknown service NAME is a mistake: name the configured ones."""
    configured = sorted(archive.services())
    if name not in configured:
        raise ConfigError(
            f"no service named {name!r}",
            hint=f"Configured services: {', '.join(configured)}."
            if configured
            else "No service is configured yet (`photosync service add`).",
        )


def disable_service(archive: Archive, name: str) -> bool:
    """Retire service NAME (it shut down): no run reads or writes it any more; its
    records' instances stay as they are (nothing is deleted). False: it already was."""
    return _set_enabled(archive, name, False)


def enable_service(archive: Archive, name: str) -> bool:
    """Bring a disabled service back (a mistaken `service disable`, a service that came
    back): runs read and write it again. False: it already was enabled."""
    return _set_enabled(archive, name, True)


def _set_enabled(archive: Archive, name: str, enabled: bool) -> bool:
    """One config commit that sets ``enabled``; nothing else changes."""
    check_service_name(archive, name)
    services = archive.services()
    if bool(services[name].get("enabled", True)) == enabled:
        return False
    services[name] = {**services[name], "enabled": enabled}
    archive.save_services(services)
    archive.commit(f"config: {'enable' if enabled else 'disable'} service {name}")
    return True


_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
#: what a pass over the records depends on in git: the records, preferences, services
_PASS_INPUTS = ("photos", "config/user-preferences.json", "config/services.json")


def pass_inputs_key(archive: Archive, *parts: str, records: bool = True) -> str | None:
    """Everything a pass over the records depends on, as one key (``resolve`` and
    ``replicate`` store it after a pass that left nothing to do, and skip the records
    while it holds): the committed records, preferences and services, which approvals
    count (the key's id, never the key), this photosync's rules (its version) and the
    caller's ``parts`` (its options). None while something uncommitted is in the
    archive (a hand edit) or nothing is committed yet: then the pass reads the records.
    Without ``records`` the committed records are left out of the key (for a caller
    that follows them itself, by git's tree ids)."""
    if archive.user_changed:
        return None
    inputs = _PASS_INPUTS if records else _PASS_INPUTS[1:]
    said = archive.git.run("rev-parse", *(f"HEAD:{p}" for p in inputs), check=False)
    trees = said.split()
    if len(trees) != len(inputs) or not all(_OBJECT_ID.fullmatch(t) for t in trees):
        return None
    said_inputs = [*trees, str(archive.seals.key_id()), photosync.__version__, *parts]
    return hashlib.sha256("\0".join(said_inputs).encode()).hexdigest()
