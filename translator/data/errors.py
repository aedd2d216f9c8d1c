"""Exceptions raised by the data layer.

Every error is a :class:`CorpusError`, itself a :class:`ValueError`, so callers (and the
CLIs) can catch one type and print its message as one clear line.
"""

from __future__ import annotations


class CorpusError(ValueError):
    """A corpus is unknown, missing, malformed, or cannot be fetched."""


class UnknownCorpusError(CorpusError):
    """A corpus name or direction is not registered."""


class MissingDataError(CorpusError):
    """A file a corpus needs is in none of the places it is looked for."""


class DownloadError(CorpusError):
    """A download failed, or the file downloaded is not the one expected."""
