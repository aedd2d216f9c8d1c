"""Corpora from local files, named by path instead of a registry name.

* ``pairs.tsv`` (any name without ``.jsonl``): ``source<TAB>target`` per line; a third
  column (such as a manythings attribution) is ignored.
* ``pairs.jsonl``: one ``{"source": ..., "target": ...}`` object per line.
* ``src.txt:tgt.txt``: two aligned text files, line *i* with line *i*.

Splits use the hash rule on the source of the chosen direction (``source-target``, the
default, or ``target-source``).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from translator.data.errors import CorpusError, MissingDataError
from translator.data.reading import decode_lines, read_aligned, read_columns
from translator.data.spec import TASKS, Corpus, DataFile, Direction, LoadContext, Option
from translator.data.splits import Pair, split_by_hash

JSONL_SUFFIXES = (".jsonl", ".ndjson")
ALIGNED_SEPARATOR = ":"


def looks_local(spec: str) -> bool:
    """Whether a corpus argument is a path (or ``a:b`` pair of paths), not a name."""
    return (
        os.sep in spec
        or "/" in spec
        or ALIGNED_SEPARATOR in spec
        or Path(spec).suffix.lower() in (".tsv", ".txt", ".jsonl", ".ndjson")
        or Path(spec).exists()
    )


def parse_spec(spec: str) -> tuple[str, list[Path]]:
    """``("tsv" | "jsonl" | "aligned", paths)`` for a local corpus argument."""
    if ALIGNED_SEPARATOR in spec and not Path(spec).exists():
        first, _, second = spec.partition(ALIGNED_SEPARATOR)
        return "aligned", [Path(first).expanduser(), Path(second).expanduser()]
    path = Path(spec).expanduser()
    return ("jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "tsv"), [path]


def _read_jsonl(data: bytes, ctx: LoadContext, name: str) -> list[Pair]:
    reporter = ctx.reporter(name)
    pairs = []
    for number, text in decode_lines(data, reporter):
        if text is None:
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            reporter.report(number, f"not valid JSON ({err.msg})")
            continue
        if not isinstance(record, dict):
            reporter.report(number, "not a JSON object")
            continue
        fields = [record.get("source"), record.get("target")]
        if not all(isinstance(f, str) for f in fields):
            reporter.report(number, 'needs string "source" and "target" fields')
            continue
        source, target = (f.strip() for f in fields)
        if not source or not target:
            reporter.report(number, f"empty {'source' if not source else 'target'}")
            continue
        pairs.append((source, target))
    reporter.finish()
    return pairs


def load_local(ctx: LoadContext, kind: str) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Reads the local file(s) and splits by the hash of the source."""
    paths = [f.path for f in ctx.corpus.files]
    if kind == "aligned":
        a, b = (ctx.locate(p) for p in paths)
        ra, rb = ctx.reporter(str(a)), ctx.reporter(str(b))
        pairs = [(x, y) for _, x, y in read_aligned(a.read_bytes(), b.read_bytes(), ra, rb)]
        ra.finish()
        rb.finish()
    elif kind == "jsonl":
        located = ctx.locate(paths[0])
        pairs = _read_jsonl(located.read_bytes(), ctx, str(located))
    else:
        located = ctx.locate(paths[0])
        reporter = ctx.reporter(str(located))
        pairs = [(f[0], f[1]) for _, f in read_columns(located.read_bytes(), reporter, (2, 3))]
        reporter.finish()
    if ctx.direction.reverse:
        pairs = [(t, s) for s, t in pairs]
    return split_by_hash(pairs)


def local_corpus(
    spec: str, task: str = "translation", source_lang: str = "und", target_lang: str = "und"
) -> Corpus:
    """An unregistered :class:`Corpus` for local files (see the module docstring).

    ``source_lang`` / ``target_lang`` (ISO 639-1, ``und`` when unknown) only choose the
    BLEU tokenizer (``zh`` for Chinese targets); ``task`` is translation or summarization.
    """
    if task not in TASKS:
        raise CorpusError(f"local corpus {spec!r}: task {task!r} is not one of {list(TASKS)}")
    kind, paths = parse_spec(spec)
    for path in paths:
        if not path.is_file():
            raise MissingDataError(
                f"local corpus {spec!r}: file not found: {path.resolve()} (a corpus is a "
                "registered name, a .tsv/.jsonl file, or src.txt:tgt.txt)"
            )
    return Corpus(
        name=spec,
        description=f"local {kind} file{'s' if len(paths) > 1 else ''}",
        licence="(local file)",
        task=task,
        directions=(
            Direction("source-target", source_lang, target_lang),
            Direction("target-source", target_lang, source_lang, reverse=True),
        ),
        files=tuple(DataFile(str(p.resolve())) for p in paths),
        loader=functools.partial(load_local, kind=kind),
        split_rule="hash of the source text (2 % test, 2 % validation)",
        options=(
            Option("task", "translation", "translation or summarization"),
            Option("source_lang", "und", "ISO 639-1 code of the first column"),
            Option("target_lang", "und", "ISO 639-1 code of the second column"),
        ),
    )
