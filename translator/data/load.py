"""``load_splits``: from a corpus name (or path) to train / validation / test pairs."""

from __future__ import annotations

import os
from typing import Any

from translator.data.download import fetch
from translator.data.errors import CorpusError
from translator.data.local import local_corpus, looks_local
from translator.data.locate import locate, missing_error
from translator.data.registry import REGISTRY, get_corpus
from translator.data.spec import Corpus, LoadContext
from translator.data.splits import Splits, subsample

_LOCAL_OPTIONS = ("task", "source_lang", "target_lang")


def _resolve(corpus: str | Corpus, options: dict[str, Any]) -> Corpus:
    if isinstance(corpus, Corpus):
        return corpus
    if corpus not in REGISTRY and looks_local(corpus):
        # Local corpora take their description from these options.
        return local_corpus(corpus, **{k: options[k] for k in _LOCAL_OPTIONS if k in options})
    return get_corpus(corpus)


def load_splits(
    corpus: str | Corpus,
    direction: str | None = None,
    data_dir: str | os.PathLike | None = None,
    strict: bool = False,
    download: bool = False,
    **options: Any,
) -> Splits:
    """Loads a corpus as deterministic train / validation / test ``(source, target)`` pairs.

    ``corpus`` is a registered name (see :func:`list_corpora`), a local ``.tsv`` /
    ``.jsonl`` path, or ``src.txt:tgt.txt``; ``direction`` defaults to the corpus'
    first (benchmark) direction.  Files are looked for in ``data_dir`` (or
    ``$TRANSLATOR_DATA_DIR``), then in the download cache; when missing they are
    downloaded only with ``download=True``, otherwise :class:`MissingDataError` says
    which file is missing and where to put it.  Malformed lines are skipped with a
    warning, or raise :class:`CorpusError` on the first one when ``strict``.
    ``options`` are corpus-specific (``uppercase_titles`` for Reuters, ``seed`` and
    sizes for ``dates``, ...); unknown ones are an error.
    """
    entry = _resolve(corpus, options)
    accepted = entry.option_defaults()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) if accepted else "none"
        raise CorpusError(
            f"corpus {entry.name!r} does not take option {unknown[0]!r}; options: {allowed}"
        )
    chosen = entry.direction(direction)
    located, missing = locate(entry, data_dir)
    if missing and download:
        fetch(entry)
        located, missing = locate(entry, data_dir)
    if missing:
        raise missing_error(entry, missing, data_dir)
    settings = {**accepted, **options}
    ctx = LoadContext(entry, chosen, located, strict=strict, options=settings)
    train, validation, test = entry.loader(ctx)
    info: dict[str, Any] = {
        "corpus": entry.name,
        "description": entry.description,
        "task": entry.task,
        "direction": chosen.name,
        "source_lang": chosen.source_lang,
        "target_lang": chosen.target_lang,
        "bleu_tokenize": chosen.bleu_tokenize,
        "files": [str(where) for where in located.values()],
        "skipped": {r.name: r.count for r in ctx.reporters if r.count},
        "problems": [s for r in ctx.reporters if (s := r.summary())],
        "split_rule": entry.split_rule,
        "options": settings,
        **ctx.notes,
    }
    return Splits(train, validation, test, info)


def load_splits_from_config(config: Any, download: bool = False) -> Splits:
    """:func:`load_splits` for a ``DataConfig`` (or a whole ``Config``), with its limits.

    ``train_limit`` caps the training pairs and ``eval_limit`` each of validation and
    test; both draw a fixed-seed sample (kept in file order), never the first N lines,
    since several corpora are sorted by length.
    """
    data = getattr(config, "data", config)
    entry = _resolve(data.corpus, {})
    options: dict[str, Any] = {}
    if "uppercase_titles" in entry.option_defaults():
        options["uppercase_titles"] = data.uppercase_titles
    splits = load_splits(entry, data.direction, data.data_dir, data.strict, download, **options)
    splits.info["sizes_before_limits"] = splits.sizes()
    splits.info["limits"] = {"train": data.train_limit, "eval": data.eval_limit}
    splits.train = subsample(splits.train, data.train_limit)
    splits.validation = subsample(splits.validation, data.eval_limit)
    splits.test = subsample(splits.test, data.eval_limit)
    return splits
