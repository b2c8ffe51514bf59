"""photosync: keep one person's photos alive across services and storage."""

__version__ = "0.1.0"
