"""Google Photos: Takeout archives (the source of originals), the Library API
(a private upload target) and the Picker API (hand-picked derivatives).

Since March 2025 the Library API only reads what this app uploaded, so reading a
user's library means a Takeout export; see the ``takeout`` package. Submodules are
imported lazily by the service registry (``google.takeout:TakeoutSource``,
``google.library:GooglePhotosLibrary``).
"""

from __future__ import annotations
