"""Unpacking downloaded archives into the cache layout (``Download.extract`` callables).

Each factory returns ``extract(archive, cache_dir) -> written paths``.  Files are
written to a temporary name and renamed, so an interrupted run never leaves a
truncated file where a loader would trust it.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from translator.data.errors import DownloadError

Extractor = Callable[[Path, Path], list[Path]]


def write_atomic(dest: Path, stream: IO[bytes]) -> Path:
    """Copies ``stream`` to ``dest`` through ``dest.part`` and a rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with open(part, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def unzip(members: dict[str, str]) -> Extractor:
    """Extracts zip members (name inside the zip -> path relative to the cache)."""

    def extract(archive: Path, cache_dir: Path) -> list[Path]:
        written = []
        try:
            with zipfile.ZipFile(archive) as zf:
                for member, relative in members.items():
                    with zf.open(member) as stream:
                        written.append(write_atomic(cache_dir / relative, stream))
        except (KeyError, zipfile.BadZipFile) as err:
            raise DownloadError(f"{archive} is not the expected zip archive: {err}") from err
        return written

    return extract


def gunzip(relative: str) -> Extractor:
    """Decompresses a ``.gz`` download to ``relative`` (under the cache)."""

    def extract(archive: Path, cache_dir: Path) -> list[Path]:
        try:
            with gzip.open(archive) as stream:
                return [write_atomic(cache_dir / relative, stream)]
        except (OSError, EOFError) as err:
            raise DownloadError(f"{archive} is not a valid gzip file: {err}") from err

    return extract


def untar(pattern: str, folder: str) -> Extractor:
    """Extracts tar members whose file name matches ``pattern`` into ``folder``."""
    regex = re.compile(pattern)

    def extract(archive: Path, cache_dir: Path) -> list[Path]:
        written = []
        try:
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    name = Path(member.name).name  # flat: never trust paths inside archives
                    if member.isfile() and regex.fullmatch(name):
                        stream = tf.extractfile(member)
                        if stream is not None:
                            written.append(write_atomic(cache_dir / folder / name, stream))
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DownloadError(f"{archive} is not a valid tar archive: {err}") from err
        if not written:
            raise DownloadError(f"{archive} holds no file matching {pattern!r}")
        return written

    return extract


def unzip_renamed(pattern: str, template: str) -> Extractor:
    """Extracts zip members matching ``pattern`` to ``template`` (``re`` group references).

    For archives laid out differently from the cache, such as the Kaggle BBC zip
    (``BBC News Summary/News Articles/tech/001.txt`` -> ``.../articles/tech/001.txt``).
    """
    regex = re.compile(pattern)

    def extract(archive: Path, cache_dir: Path) -> list[Path]:
        written: dict[Path, Path] = {}  # Kaggle's zip holds the tree twice
        try:
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    match = regex.search(info.filename)
                    if match and not info.is_dir():
                        dest = cache_dir / match.expand(template)
                        with zf.open(info) as stream:
                            written[dest] = write_atomic(dest, stream)
        except zipfile.BadZipFile as err:
            raise DownloadError(f"{archive} is not a zip archive: {err}") from err
        if not written:
            raise DownloadError(f"{archive} holds no file matching {pattern!r}")
        return list(written.values())

    return extract


def chain(*extractors: Extractor) -> Extractor:
    """Runs several extractors on one archive."""

    def extract(archive: Path, cache_dir: Path) -> list[Path]:
        return [path for extractor in extractors for path in extractor(archive, cache_dir)]

    return extract
