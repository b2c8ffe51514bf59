"""photosync web: the local review and browse pages (a presentation layer, like the CLI)."""
