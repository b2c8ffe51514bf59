"""Service types by name. A new service adds one line here."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from photosync.errors import ConfigError
from photosync.services.base import Service

#: type name -> "module:Class", imported only when a service of that type is used
SERVICE_TYPES: dict[str, str] = {
    "local": "photosync.services.local:LocalFolderService",
    "flickr": "photosync.services.flickr.service:FlickrService",
    "flickr-export": "photosync.services.flickr.export:FlickrExportService",
    "google-takeout": "photosync.services.google.takeout:TakeoutSource",
    "google-photos": "photosync.services.google.library:GooglePhotosLibrary",
}


def service_class(type_name: str) -> type[Service]:
    try:
        module_name, class_name = SERVICE_TYPES[type_name].split(":")
    except KeyError:
        known = ", ".join(sorted(SERVICE_TYPES))
        raise ConfigError(f"unknown service type {type_name!r} (known: {known})") from None
    cls: object = getattr(import_module(module_name), class_name)
    assert isinstance(cls, type) and issubclass(cls, Service)
    return cls


def make_service(name: str, settings: dict[str, Any]) -> Service:
    return service_class(settings["type"])(name, settings)
