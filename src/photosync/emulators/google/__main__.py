"""``python -m photosync.emulators.google``: run the emulator by hand."""

from photosync.emulators.google.server import main

raise SystemExit(main())
