"""The corpus registry: every named corpus, its files, downloads and loader.

Paths are relative to a data dir laid out like the shared data folder (``spa-eng/spa.txt``,
``multi30k/train.de``, ``tatoeba-anki/fra-eng.zip``, ...).  Checksums were computed from
the reference copies; see ``data/README.md`` for the lookup order.
"""

from __future__ import annotations

import difflib
import functools

from translator.data import sequences
from translator.data.archives import chain, gunzip, untar, unzip, unzip_renamed
from translator.data.bbc import ARTICLES, SUMMARIES, load_bbc
from translator.data.corpora import load_gigaword_sample, load_multi30k, load_tatoeba
from translator.data.dates import DEFAULT_SEED, DEFAULT_SIZES, MAX_YEAR, MIN_YEAR, load_dates
from translator.data.errors import UnknownCorpusError
from translator.data.local import local_corpus, looks_local
from translator.data.reuters import SGML_FILES, load_reuters
from translator.data.spec import Corpus, DataFile, Direction, Download, Option

TATOEBA_LICENCE = "CC-BY 2.0 FR (Tatoeba; credit tatoeba.org and www.manythings.org/anki)"
HASH_RULE = "hash of the source text: 2 % test, 2 % validation, 96 % train"
MANYTHINGS = "http://www.manythings.org/anki/"


def _tatoeba(
    code: str,
    lang: str,
    language: str,
    zip_sha256: str | None,
    zip_size: int | None,
    text_sha256: str | None,
    size: str,
    folder: str = "tatoeba-anki",
    name: str | None = None,
) -> Corpus:
    """A manythings.org ``<code>-eng.zip`` corpus (English first in the file)."""
    name = name or f"{code}-eng"
    archive = f"{folder}/{code}-eng.zip"
    text = f"{folder}/{code}.txt"
    return Corpus(
        name=name,
        description=f"Tatoeba {language}–English sentence pairs (manythings.org/anki export)",
        licence=TATOEBA_LICENCE,
        task="translation",
        directions=(
            Direction(f"{code}-en", lang, "en", reverse=True, description=f"{language} -> English"),
            Direction(f"en-{code}", "en", lang, description=f"English -> {language}"),
        ),
        files=(DataFile(text, archive=archive, member=f"{code}.txt", sha256=text_sha256),),
        loader=functools.partial(load_tatoeba, path=text),
        downloads=(
            Download(
                url=f"{MANYTHINGS}{code}-eng.zip",
                path=archive,
                sha256=zip_sha256,
                size=zip_size,
                pinned=False,  # manythings replaces its files over time
                extract=unzip({f"{code}.txt": text}),
            ),
        ),
        homepage=MANYTHINGS,
        size=size,
        split_rule=HASH_RULE,
    )


_MULTI30K_RAW = (
    "https://raw.githubusercontent.com/multi30k/dataset/"
    "a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/"
)
_MULTI30K_FILES = {  # our name -> (upstream name, sha256 of the decompressed file)
    "train.de": ("train.de", "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72"),
    "train.en": ("train.en", "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6"),
    "val.de": ("val.de", "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660"),
    "val.en": ("val.en", "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227"),
    "test2016.de": (
        "test_2016_flickr.de",
        "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
    ),
    "test2016.en": (
        "test_2016_flickr.en",
        "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
    ),
}

_GIGAWORD_RAW = (
    "https://raw.githubusercontent.com/ethanabrooks/headlines/"
    "f666b8e7223b4cff43a4f52f31be174d2fc002a3/"
)
_GIGAWORD_FILES = {  # our name -> (upstream name, sha256)
    "train.article.first1000.txt": (
        "test.article.txt",
        "a5f8062d45f908375f8094abe726bf250b7a3934893be185f84bc3fcad4f8084",
    ),
    "train.title.first1000.txt": (
        "train.title.txt",
        "64e520c9b2dfe339d0511166b1bcf307c5e2f5587c6f79ec104a8ad6cfe0bef7",
    ),
}

_ENTRIES: tuple[Corpus, ...] = (
    Corpus(
        name="spa-eng",
        description="Tatoeba English–Spanish, the TensorFlow NMT tutorial's spa-eng.zip",
        licence=TATOEBA_LICENCE,
        task="translation",
        directions=(
            Direction("spa-en", "es", "en", reverse=True, description="Spanish -> English"),
            Direction("en-spa", "en", "es", description="English -> Spanish"),
        ),
        files=(
            DataFile(
                "spa-eng/spa.txt",
                archive="spa-eng/spa-eng.zip",
                member="spa-eng/spa.txt",
                sha256="6ec60e212f812ee3430f7568ea6f33b6fb080e32193c5952e8da0ee8ba45574c",
            ),
        ),
        loader=functools.partial(load_tatoeba, path="spa-eng/spa.txt"),
        downloads=(
            Download(
                url="http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip",
                path="spa-eng/spa-eng.zip",
                sha256="0c4fd7825d3d872488d38c157f784e035edab4f2ff0df25a2a208790ecb5b58f",
                size=2_638_744,
                extract=unzip({"spa-eng/spa.txt": "spa-eng/spa.txt"}),
            ),
        ),
        homepage="https://www.tensorflow.org/text/tutorials/nmt_with_attention",
        size="118,964 pairs",
        split_rule=HASH_RULE,
    ),
    Corpus(
        name="multi30k",
        description="Multi30K German–English image captions (WMT16 multimodal task 1), raw text",
        licence="non-commercial research and education (Flickr30K terms); cite Elliott et al. 2016",
        task="translation",
        directions=(
            Direction("de-en", "de", "en", description="German -> English"),
            Direction("en-de", "en", "de", reverse=True, description="English -> German"),
        ),
        files=tuple(
            DataFile(f"multi30k/{name}", sha256=sha) for name, (_, sha) in _MULTI30K_FILES.items()
        ),
        loader=load_multi30k,
        downloads=tuple(
            Download(
                url=f"{_MULTI30K_RAW}{upstream}.gz",
                path=f"multi30k/{name}.gz",
                extract=gunzip(f"multi30k/{name}"),
            )
            for name, (upstream, _) in _MULTI30K_FILES.items()
        ),
        homepage="https://github.com/multi30k/dataset",
        size="31,014 pairs",
        split_rule="official: train, val, test2016 (flickr)",
    ),
    _tatoeba(
        "fra",
        "fr",
        "French",
        "16c4f7d0df9e7c5e6c54cdb0447f3f4a18a55052ff5e2e0b27dd4a06c0e49d04",
        2_951_390,
        "2546838ae46e0eac4c02ab7032ea0a02a006074a5340077a36a9444f41e02888",
        "142,787 pairs",
    ),
    _tatoeba(
        "deu",
        "de",
        "German",
        "b7688f84f99fa33c17397c14d8bd9cef1fdeb2ee0bf50074767023aee8926e28",
        4_012_023,
        "a79c90b3cd3102decffa49cc00fb6f20023974f2ae5c4782515bebe133fcc07b",
        "169,813 pairs",
    ),
    _tatoeba(
        "ara",
        "ar",
        "Arabic",
        None,
        None,
        "9e6f5858cfd818b7f63c1ad6f7fe8dafbb7331369d0c02491641f6005ec2c15b",
        "12,176 pairs",
    ),
    _tatoeba(
        "cmn",
        "zh",
        "Chinese (Mandarin)",
        "d606361aa7312dcdfb15ef4fc51cb1e7ed8bc2dc608a7b192626cd36e8403106",
        1_386_340,
        "d766002332a8f21099afd7427138d44f06bed7486a18f7f0f26f217092667d73",
        "32,028 pairs",
        folder="cmn-eng",
    ),
    Corpus(
        name="reuters-21578",
        description="Reuters-21578 newswire (1987): headline generation, story body -> title",
        licence='research use only (© Reuters Ltd.); cite "Reuters-21578, Distribution 1.0"',
        task="summarization",
        directions=(Direction("body-title", "en", "en", description="story body -> headline"),),
        files=tuple(DataFile(path) for path in SGML_FILES),
        loader=load_reuters,
        downloads=(
            Download(
                url="https://kdd.ics.uci.edu/databases/reuters21578/reuters21578.tar.gz",
                path="reuters-21578/reuters21578.tar.gz",
                pinned=False,
                extract=untar(r"reut2-\d{3}\.sgm", "reuters-21578"),
            ),
        ),
        homepage="http://www.daviddlewis.com/resources/testcollections/reuters21578/",
        size="19,043 stories",
        split_rule=(
            "LEWISSPLIT: TEST is test; validation is the TRAIN stories whose body hash is "
            "not 'train' (~4 %); NOT-USED skipped"
        ),
        options=(
            Option(
                "uppercase_titles",
                True,
                "keep the upper-case titles; False lower-cases them (tickers such as <MMT> kept)",
            ),
        ),
    ),
    Corpus(
        name="bbc-news-summary",
        description="BBC News Summary: 2,225 articles in 5 categories with extractive summaries",
        licence="© BBC; non-commercial research use only",
        task="summarization",
        directions=(
            Direction("article-summary", "en", "en", description="article body -> summary"),
            Direction("lead-title", "en", "en", description="article lead -> title"),
        ),
        files=(DataFile(ARTICLES, is_dir=True), DataFile(SUMMARIES, is_dir=True)),
        loader=load_bbc,
        downloads=(
            Download(
                url="https://www.kaggle.com/datasets/pariza/bbc-news-summary",
                path="bbc-news-summary/bbc-news-summary.zip",
                manual="Kaggle needs a login",
                extract=chain(
                    unzip_renamed(
                        r"(?:^|/)(?:News Articles|articles)/(\w+/\d+\.txt)$", ARTICLES + r"/\1"
                    ),
                    unzip_renamed(
                        r"(?:^|/)(?:Summaries|summaries)/(\w+/\d+\.txt)$", SUMMARIES + r"/\1"
                    ),
                ),
            ),
        ),
        homepage="http://mlg.ucd.ie/datasets/bbc.html",
        size="2,225 articles",
        split_rule="per category, by rank of the article hash: 10 % test, 10 % validation",
    ),
    Corpus(
        name="gigaword-sample",
        description="First 1,000 Gigaword sentence -> headline pairs (Rush et al. 2015), for tests",
        licence="LDC-derived (English Gigaword); research and testing use only",
        task="summarization",
        directions=(
            Direction("article-title", "en", "en", description="first sentence -> headline"),
        ),
        files=tuple(
            DataFile(f"gigaword-sample/{name}", sha256=sha)
            for name, (_, sha) in _GIGAWORD_FILES.items()
        ),
        loader=load_gigaword_sample,
        downloads=tuple(
            Download(url=f"{_GIGAWORD_RAW}{upstream}", path=f"gigaword-sample/{name}", sha256=sha)
            for name, (upstream, sha) in _GIGAWORD_FILES.items()
        ),
        homepage="https://github.com/harvardnlp/sent-summary",
        size="1,000 pairs",
        split_rule=HASH_RULE,
    ),
    Corpus(
        name="dates",
        description="Synthetic human-readable dates -> ISO 8601, seeded (smoke tests, demos)",
        licence="synthetic; no restrictions",
        task="translation",
        directions=(
            Direction("human-iso", "en", "zxx", description="'tuesday 3 march 1998' -> 1998-03-03"),
        ),
        files=(),
        loader=load_dates,
        size="20k / 1k / 1k pairs",
        split_rule="seeded draw; every source string in one split only",
        options=(
            Option("seed", DEFAULT_SEED, "random seed"),
            Option("train_size", DEFAULT_SIZES["train"], "training pairs"),
            Option("validation_size", DEFAULT_SIZES["validation"], "validation pairs"),
            Option("test_size", DEFAULT_SIZES["test"], "test pairs"),
            Option("min_year", MIN_YEAR, "first year"),
            Option("max_year", MAX_YEAR, "last year"),
        ),
    ),
    Corpus(
        name="sequences",
        description="Synthetic letter sequences to copy or reverse, seeded (gradient lesson)",
        licence="synthetic; no restrictions",
        task="translation",
        directions=(
            Direction("copy", "zxx", "zxx", description="'cabd...' -> 'cabd...'"),
            Direction("reverse", "zxx", "zxx", description="'cabd...' -> '...dbac'"),
        ),
        files=(),
        loader=sequences.load_sequences,
        size="20k / 500 / 500 pairs of 50-60 symbols",
        split_rule="seeded draw; every source string in one split only",
        options=(
            Option("seed", sequences.DEFAULT_SEED, "random seed"),
            Option("train_size", sequences.DEFAULT_SIZES["train"], "training pairs"),
            Option("validation_size", sequences.DEFAULT_SIZES["validation"], "validation pairs"),
            Option("test_size", sequences.DEFAULT_SIZES["test"], "test pairs"),
            Option("min_length", sequences.DEFAULT_LENGTH[0], "shortest sequence"),
            Option("max_length", sequences.DEFAULT_LENGTH[1], "longest sequence"),
            Option("symbols", sequences.DEFAULT_SYMBOLS, "alphabet size (2-26)"),
        ),
    ),
)

#: Every registered corpus by name.
REGISTRY: dict[str, Corpus] = {corpus.name: corpus for corpus in _ENTRIES}


def list_corpora() -> list[Corpus]:
    """The registered corpora, in registration order."""
    return list(REGISTRY.values())


def get_corpus(name: str) -> Corpus:
    """The registered corpus ``name``, or a local corpus when ``name`` is a path.

    Raises :class:`UnknownCorpusError` naming the registered corpora otherwise.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    if looks_local(name):
        return local_corpus(name)
    close = difflib.get_close_matches(name, list(REGISTRY), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownCorpusError(
        f"unknown corpus {name!r}{hint}; registered corpora: {', '.join(REGISTRY)} "
        "(or give a path to a .tsv/.jsonl file, or src.txt:tgt.txt)"
    )
