"""Where corpus files are looked for.

In order: the explicit ``data_dir`` argument (or, without one, ``$TRANSLATOR_DATA_DIR``),
then the download cache: ``$TRANSLATOR_CACHE_DIR`` if set, else the ``data/`` folder next
to the ``translator`` package when running from a source checkout, else
``~/.cache/translator``.  Both places use the same layout (``spa-eng/spa.txt``,
``multi30k/train.de``, ``tatoeba-anki/fra-eng.zip``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

from translator.data.errors import MissingDataError
from translator.data.spec import Corpus, DataFile, Located

DATA_DIR_ENV = "TRANSLATOR_DATA_DIR"
CACHE_DIR_ENV = "TRANSLATOR_CACHE_DIR"


def default_cache_dir() -> Path:
    """The download cache: ``$TRANSLATOR_CACHE_DIR``, ``<checkout>/data`` or ``~/.cache``."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "translator").is_dir():
        return checkout / "data"
    return Path.home() / ".cache" / "translator"


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """The folders searched, in order, each with a label for messages."""
    dirs: list[tuple[Path, str]] = []
    if data_dir is not None:
        dirs.append((Path(data_dir).expanduser(), "data dir"))
    elif os.environ.get(DATA_DIR_ENV):
        dirs.append((Path(os.environ[DATA_DIR_ENV]).expanduser(), f"${DATA_DIR_ENV}"))
    cache = default_cache_dir()
    if all(cache.resolve() != d.resolve() for d, _ in dirs):
        dirs.append((cache, "download cache"))
    return dirs


def _find(item: DataFile, folder: Path) -> Located | None:
    path = folder / item.path
    if item.is_dir:
        return Located(path) if path.is_dir() and any(path.iterdir()) else None
    if path.is_file():
        return Located(path)
    if item.archive and (folder / item.archive).is_file():
        return Located(folder / item.archive, item.member)
    return None


def locate(
    corpus: Corpus, data_dir: str | os.PathLike | None = None
) -> tuple[dict[str, Located], list[DataFile]]:
    """Finds every file of ``corpus``: ``(found by relative path, missing files)``."""
    found, missing, _ = locate_with_roots(corpus, data_dir)
    return found, missing


def locate_with_roots(
    corpus: Corpus, data_dir: str | os.PathLike | None = None
) -> tuple[dict[str, Located], list[DataFile], list[tuple[Path, str]]]:
    """Like :func:`locate`, plus the searched folders (with labels) that held files."""
    dirs = search_dirs(data_dir)
    found: dict[str, Located] = {}
    missing: list[DataFile] = []
    roots: list[tuple[Path, str]] = []
    for item in corpus.files:
        for folder, label in dirs:
            hit = _find(item, folder)
            if hit is not None:
                found[item.path] = hit
                if (folder, label) not in roots:
                    roots.append((folder, label))
                break
        else:
            missing.append(item)
    return found, missing, roots


def missing_error(
    corpus: Corpus, missing: list[DataFile], data_dir: str | os.PathLike | None = None
) -> MissingDataError:
    """An error naming the first missing file, every place looked, and how to get it."""
    first = missing[0]
    what = first.path + ("/" if first.is_dir else "")
    if first.archive:
        what += f" (or the archive {first.archive})"
    if len(missing) > 1:
        what += f" and {len(missing) - 1} more file{'s' if len(missing) > 2 else ''}"
    dirs = search_dirs(data_dir)
    looked = " and ".join(f"{folder} ({label})" for folder, label in dirs)
    places = " or ".join(str(folder / first.path) for folder, _ in dirs)
    hint = ""
    if not any(label != "download cache" for _, label in dirs):
        hint = f" (set ${DATA_DIR_ENV} or pass a data dir to look elsewhere)"
    manual = next((d for d in corpus.downloads if d.manual), None)
    if manual:
        how = (
            f"; it cannot be downloaded automatically ({manual.manual}): get it from "
            f"{manual.url} and run `python -m translator.data fetch {corpus.name} --from FILE`"
        )
    elif corpus.downloads:
        how = (
            f", or download it with `python -m translator.data fetch {corpus.name}` "
            f"(from {corpus.downloads[0].url})"
        )
    else:
        how = ""
    return MissingDataError(
        f"corpus {corpus.name!r} is not available: missing {what}; looked in {looked}{hint}. "
        f"Put {'the folder' if first.is_dir else 'the file'} at {places}{how}."
    )
