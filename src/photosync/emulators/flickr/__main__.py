"""``python -m photosync.emulators.flickr``: run the emulator by hand."""

from photosync.emulators.flickr.server import main

raise SystemExit(main())
