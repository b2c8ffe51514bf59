"""``python -m photosync`` runs the command line."""

from photosync.cli import main

main()
