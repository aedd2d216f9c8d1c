"""The value types that describe a corpus: directions, files, downloads, options.

A :class:`Corpus` is a frozen description (name, licence, task, directions, the files it
needs relative to a data dir, where to download them) plus a loader.  The loader gets a
:class:`LoadContext` with the files already located and returns the three splits, with
pairs already oriented for the requested direction.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from translator.data.errors import CorpusError, UnknownCorpusError
from translator.data.reading import LineReporter
from translator.data.splits import Pair

#: sacrebleu tokenizer per target language; everything else uses "13a".
BLEU_TOKENIZERS = {"zh": "zh", "ja": "ja-mecab", "ko": "ko-mecab"}
TASKS = ("translation", "summarization")


@dataclass(frozen=True)
class Direction:
    """One way to read a corpus: ``name`` such as ``spa-en``, with language codes.

    ``reverse`` is True when the source is the corpus' second column (Tatoeba files are
    ``English<TAB>other``, so ``spa-en`` is reversed).
    """

    name: str
    source_lang: str
    target_lang: str
    reverse: bool = False
    description: str = ""

    @property
    def bleu_tokenize(self) -> str:
        """The sacrebleu tokenizer for this direction's target (``zh`` for Chinese)."""
        return BLEU_TOKENIZERS.get(self.target_lang, "13a")


@dataclass(frozen=True)
class DataFile:
    """A file (or folder, ``is_dir``) a loader reads, relative to a data dir.

    When ``path`` is absent but the zip ``archive`` is present, ``member`` is read from
    inside the zip.  ``sha256`` is the checksum of the file at ``path`` where known.
    """

    path: str
    archive: str | None = None
    member: str | None = None
    sha256: str | None = None
    is_dir: bool = False


@dataclass(frozen=True)
class Download:
    """Where a corpus can be downloaded from and how to unpack it into the cache.

    ``path`` is where the download is stored (relative to the cache); ``sha256`` the
    checksum of that file where known.  ``pinned`` means the URL always serves the same
    bytes, so a checksum mismatch is an error; for sources that are replaced over time
    (manythings.org) a mismatch is only a warning.  ``extract(archive, cache_dir)``
    unpacks the files the loader reads.  ``manual`` says why it cannot be fetched
    automatically (then ``url`` is a web page and ``fetch --from FILE`` unpacks a copy).
    """

    url: str
    path: str
    sha256: str | None = None
    size: int | None = None
    pinned: bool = True
    extract: Callable[[Path, Path], list[Path]] | None = field(
        default=None, repr=False, compare=False
    )
    manual: str | None = None


@dataclass(frozen=True)
class Option:
    """A loader option accepted as a keyword of ``load_splits``."""

    name: str
    default: Any
    help: str


@dataclass(frozen=True)
class Located:
    """Where a :class:`DataFile` was found: a path, and a zip member when read in place."""

    path: Path
    member: str | None = None

    def __str__(self) -> str:
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    def read_bytes(self) -> bytes:
        """The file's bytes (the zip member's, when read from an archive)."""
        try:
            if self.member is None:
                return self.path.read_bytes()
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(self.member)
        except (OSError, KeyError, zipfile.BadZipFile) as err:
            raise CorpusError(f"cannot read {self}: {err}") from err


Loader = Callable[["LoadContext"], tuple[list[Pair], list[Pair], list[Pair]]]


@dataclass(frozen=True)
class Corpus:
    """A registry entry: what a corpus is, where its files live, and how to load it."""

    name: str
    description: str
    licence: str
    task: str
    directions: tuple[Direction, ...]
    files: tuple[DataFile, ...]
    loader: Loader = field(repr=False, compare=False)
    downloads: tuple[Download, ...] = ()
    homepage: str = ""
    size: str = ""
    split_rule: str = ""
    options: tuple[Option, ...] = ()

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"corpus {self.name}: task {self.task!r} not in {TASKS}")
        if not self.directions:
            raise ValueError(f"corpus {self.name}: no directions")

    @property
    def default_direction(self) -> Direction:
        """The first direction listed (the benchmark direction)."""
        return self.directions[0]

    @property
    def direction_names(self) -> list[str]:
        return [d.name for d in self.directions]

    def direction(self, name: str | None = None) -> Direction:
        """The direction called ``name`` (None: the default); a clear error if unknown."""
        if name is None:
            return self.default_direction
        for direction in self.directions:
            if direction.name == name:
                return direction
        raise UnknownCorpusError(
            f"corpus {self.name!r} has no direction {name!r}; directions: {self.direction_names}"
        )

    def bleu_tokenize(self, direction: str | None = None) -> str:
        """The sacrebleu tokenizer for the target side of ``direction``."""
        return self.direction(direction).bleu_tokenize

    @property
    def urls(self) -> tuple[str, ...]:
        """Canonical download URLs (web pages for corpora fetched by hand)."""
        return tuple(d.url for d in self.downloads)

    def option_defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}


@dataclass
class LoadContext:
    """What a loader needs: located files, the direction, options, and line reporting."""

    corpus: Corpus
    direction: Direction
    located: dict[str, Located]
    strict: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    reporters: list[LineReporter] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def locate(self, path: str) -> Located:
        """Where the data file registered as ``path`` was found."""
        try:
            return self.located[path]
        except KeyError:
            raise CorpusError(f"corpus {self.corpus.name}: {path} was not located") from None

    def read(self, path: str) -> bytes:
        """The bytes of the data file registered as ``path``."""
        return self.locate(path).read_bytes()

    def reporter(self, name: str) -> LineReporter:
        """A new malformed-line reporter for the file shown as ``name``, kept for ``info``."""
        reporter = LineReporter(name, strict=self.strict)
        self.reporters.append(reporter)
        return reporter
