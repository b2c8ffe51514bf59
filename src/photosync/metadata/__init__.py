"""Reading dates, places, cameras and captions from photo and video files."""

from photosync.metadata.extract import extract_media_info, sniff_format
from photosync.metadata.sidecars import find_sidecars, parse_xmp_sidecar
from photosync.metadata.types import MediaInfo

__all__ = ["MediaInfo", "extract_media_info", "find_sidecars", "parse_xmp_sidecar", "sniff_format"]
