"""Flickr: REST connector (``FlickrService``), OAuth flow and the export importer."""

from __future__ import annotations

from photosync.services.flickr.auth import run_oauth_flow
from photosync.services.flickr.service import FlickrService

__all__ = ["FlickrService", "run_oauth_flow"]
