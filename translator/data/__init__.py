"""Corpora for the translator: a registry of named corpora with deterministic splits.

>>> from translator.data import load_splits
>>> splits = load_splits("dates", train_size=100)
>>> splits.train[0]  # doctest: +SKIP
('tuesday 3 march 1998', '1998-03-03')

Named corpora (``spa-eng``, ``multi30k``, ``fra-eng``, ``deu-eng``, ``ara-eng``,
``cmn-eng``, ``reuters-21578``, ``bbc-news-summary``, ``gigaword-sample``, ``dates``) and
local files (``.tsv``, ``.jsonl``, ``src.txt:tgt.txt``) all load to :class:`Splits`.
The command line is ``python -m translator.data {list,info,fetch}``.
"""

from translator.data.download import fetch
from translator.data.errors import CorpusError, DownloadError, MissingDataError, UnknownCorpusError
from translator.data.load import load_splits, load_splits_from_config
from translator.data.locate import default_cache_dir
from translator.data.registry import get_corpus, list_corpora
from translator.data.spec import Corpus, DataFile, Direction, Download
from translator.data.splits import Splits, hash_split, normalize_key

__all__ = [
    "Corpus",
    "CorpusError",
    "DataFile",
    "Direction",
    "Download",
    "DownloadError",
    "MissingDataError",
    "Splits",
    "UnknownCorpusError",
    "default_cache_dir",
    "fetch",
    "get_corpus",
    "hash_split",
    "list_corpora",
    "load_splits",
    "load_splits_from_config",
    "normalize_key",
]
