"""Downloading corpora into the cache: only when asked (``fetch``, ``download=True``).

Each :class:`~translator.data.spec.Download` is fetched with urllib and a tqdm progress
bar into ``<file>.part``, checked against its sha256 where known, renamed into place,
then unpacked next to it, so the cache ends up laid out like a data dir.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from translator.data.errors import CorpusError, DownloadError
from translator.data.locate import default_cache_dir, locate
from translator.data.spec import Corpus, Download

logger = logging.getLogger("translator.data")

USER_AGENT = "translator-data/0.1 (+https://github.com; python urllib)"
CHUNK = 1 << 20
TIMEOUT_S = 60


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(path: Path, expected: str | None, pinned: bool, origin: str) -> None:
    """Raises (pinned) or warns (not pinned) when ``path`` does not have checksum ``expected``."""
    if not expected:
        return
    actual = sha256_file(path)
    if actual == expected:
        return
    message = f"{origin} has sha256 {actual}, expected {expected}"
    if pinned:
        raise DownloadError(
            f"checksum mismatch: {message}; the file is corrupt or not the one expected"
        )
    logger.warning(
        "%s (the upstream replaces this file over time, so split sizes will differ from "
        "the documented ones)",
        message,
    )


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    pinned: bool = True,
    progress: bool = True,
) -> Path:
    """Downloads ``url`` to ``dest`` through ``dest.part``, checking ``sha256`` if given.

    A pinned checksum mismatch deletes the download and raises :class:`DownloadError`;
    an unpinned one only warns.  Network errors raise :class:`DownloadError` naming the
    URL and where to put the file by hand.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with (
            urllib.request.urlopen(request, timeout=TIMEOUT_S) as response,
            open(part, "wb") as out,
        ):
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
            ) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
        _check(part, sha256, pinned, f"the download of {url}")
        os.replace(part, dest)
    except DownloadError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(
            f"could not download {url}: {reason}; download it by hand and put it at {dest}"
        ) from err
    finally:
        part.unlink(missing_ok=True)
    return dest


def _obtain(name: str, download: Download, dest: Path, force: bool, source: Path | None) -> None:
    if source is not None:
        if not source.is_file():
            raise CorpusError(f"--from {source}: no such file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        try:
            shutil.copyfile(source, part)
            _check(part, download.sha256, download.pinned, str(source))
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)
    elif download.manual:
        raise DownloadError(
            f"{download.url} cannot be downloaded automatically ({download.manual}): download "
            f"it by hand, then run `python -m translator.data fetch {name} --from FILE`"
        )
    elif dest.is_file() and not force:
        logger.info("%s is already in the cache", dest)
        _check(dest, download.sha256, download.pinned, str(dest))
    else:
        logger.info("downloading %s to %s", download.url, dest)
        download_file(download.url, dest, download.sha256, download.pinned)


def fetch(
    corpus: Corpus,
    cache_dir: str | os.PathLike | None = None,
    force: bool = False,
    source: str | os.PathLike | None = None,
) -> list[Path]:
    """Downloads (or, with ``source``, copies) a corpus into the cache and unpacks it.

    Returns the files written.  Files already in the cache are kept unless ``force``.
    ``source`` is a local copy of the corpus' single archive (for corpora that cannot be
    downloaded automatically, such as the Kaggle BBC zip).
    """
    if not corpus.downloads:
        raise CorpusError(f"corpus {corpus.name!r} has nothing to download")
    if source is not None and len(corpus.downloads) != 1:
        raise CorpusError(f"--from needs a corpus with one archive; {corpus.name!r} has several")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    written: list[Path] = []
    for download in corpus.downloads:
        dest = cache / download.path
        _obtain(corpus.name, download, dest, force, Path(source) if source is not None else None)
        written.append(dest)
        if download.extract is not None:
            written.extend(download.extract(dest, cache))
    pinned = all(d.pinned for d in corpus.downloads)
    for item in corpus.files:
        if pinned and item.sha256 and (cache / item.path).is_file():
            _check(cache / item.path, item.sha256, True, str(cache / item.path))
    _, missing = locate(corpus, cache)
    if missing:
        raise DownloadError(
            f"fetched {corpus.name!r} into {cache}, but {missing[0].path} is still missing"
        )
    return written
