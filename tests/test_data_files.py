"""Tests of translator.data on small crafted files: no corpora, no network needed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from translator.data import (
    Corpus,
    CorpusError,
    DataFile,
    Direction,
    Download,
    DownloadError,
    MissingDataError,
    fetch,
    get_corpus,
    hash_split,
    load_splits,
    normalize_key,
)
from translator.data.archives import unzip
from translator.data.corpora import load_tatoeba
from translator.data.dates import FORMATS, WEEKDAYS
from translator.data.reading import MAX_WARNINGS_PER_FILE
from translator.data.reuters import clean_body, lower_title

REPO = Path(__file__).resolve().parents[1]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]  # fmt: skip


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """No test may see the real data dir or the repo's download cache."""
    monkeypatch.delenv("TRANSLATOR_DATA_DIR", raising=False)
    monkeypatch.setenv("TRANSLATOR_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr("urllib.request.urlopen", refuse)


# --- hash rule ---------------------------------------------------------------------------


def test_hash_rule_matches_its_definition():
    # Buckets computed by hand (first 8 hex digits of sha256 of the key, mod 100):
    # keys on both sides of each boundary, so every split is reached.
    known = {
        "Run!": (0, "test"),
        "RUN!": (0, "test"),  # same key as "Run!"
        "sentence 98.": (1, "test"),
        "Corre.": (2, "validation"),
        "sentence 92.": (3, "validation"),
        "sentence 249.": (4, "train"),
        "Ve.": (9, "train"),
        "CAFÉ": (64, "train"),
        "cafe\u0301": (64, "train"),  # decomposed é: the same key after NFC
        "嗨。": (46, "train"),
    }
    for text, (bucket, split) in known.items():
        key = normalize_key(text)
        assert int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 100 == bucket
        assert hash_split(key) == split, text
    # NFC and case: composed and decomposed, upper and lower, share a key
    assert normalize_key("CAFE\u0301") == normalize_key("café") == "caf\u00e9"


# --- malformed lines ---------------------------------------------------------------------

BAD_TSV = (
    b"Hello.\tHola.\n"  # 1 good
    b"only one column\n"  # 2 wrong column count
    b"Bad byte \xff here.\tMal.\n"  # 3 invalid UTF-8
    b"Empty target.\t  \n"  # 4 empty side
    b"a\tb\tc\td\n"  # 5 four columns
    b"Thanks.\tGracias.\n"  # 6 good
)


def test_bad_lines_are_reported_with_line_numbers(tmp_path, caplog):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(BAD_TSV)
    with caplog.at_level(logging.WARNING, logger="translator.data"):
        splits = load_splits(str(path))
    pairs = splits.train + splits.validation + splits.test
    assert sorted(pairs) == [("Hello.", "Hola."), ("Thanks.", "Gracias.")]
    assert splits.info["skipped"] == {str(path): 4}
    text = caplog.text
    assert f"{path}: line 2: expected 2 or 3 tab-separated columns, found 1" in text
    assert f"{path}: line 3: invalid UTF-8" in text
    assert f"{path}: line 4: empty target/second column" in text
    assert f"{path}: line 5: expected 2 or 3 tab-separated columns, found 4" in text
    summary = f"skipped 4 malformed lines in {path} (first: line 2: expected"
    assert summary in text
    assert splits.info["problems"][0].startswith(summary)


def test_strict_raises_on_the_first_bad_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(BAD_TSV)
    with pytest.raises(CorpusError, match=rf"{re.escape(str(path))}: line 2: expected"):
        load_splits(str(path), strict=True)
    assert issubclass(CorpusError, ValueError)


def test_warnings_are_capped_for_a_broken_file(tmp_path, caplog):
    path = tmp_path / "broken.tsv"
    path.write_bytes(b"no tab here\n" * 500 + b"ok\tfine\n")
    with caplog.at_level(logging.WARNING, logger="translator.data"):
        splits = load_splits(str(path))
    assert splits.info["skipped"] == {str(path): 500}
    assert len(caplog.records) == MAX_WARNINGS_PER_FILE + 1  # the first few + the summary
    assert "skipped 500 malformed lines" in caplog.records[-1].getMessage()


def test_crlf_bom_and_final_newline_are_tolerated(tmp_path):
    path = tmp_path / "windows.tsv"
    path.write_bytes("\ufeffOne.\tUno.\r\nTwo.\tDos.".encode())
    splits = load_splits(str(path))
    assert sorted(splits.train + splits.validation + splits.test) == [
        ("One.", "Uno."), ("Two.", "Dos."),
    ]  # fmt: skip
    assert splits.info["skipped"] == {}


# --- tatoeba / manythings formats --------------------------------------------------------

TWO_COLUMNS = "Go.\tVa !\nHi.\tSalut !\nRun!\tCours !\nWho?\tQui ?\n"
THREE_COLUMNS = (
    "Hi.\tSalut.\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123 (CM) & #509819 (Aiji)\n"
    "Run!\tCours !\tCC-BY 2.0 (France) Attribution: tatoeba.org #906328 (papabear) & #906331 (sc)\n"
)


def _pairs(splits):
    return sorted(splits.train + splits.validation + splits.test)


def test_tatoeba_two_column_text_file(tmp_path, no_network):
    (tmp_path / "tatoeba-anki").mkdir()
    (tmp_path / "tatoeba-anki" / "fra.txt").write_text(TWO_COLUMNS, encoding="utf-8")
    splits = load_splits("fra-eng", data_dir=tmp_path)
    assert _pairs(splits) == sorted([("Va !", "Go."), ("Salut !", "Hi."), ("Cours !", "Run!"),
                                     ("Qui ?", "Who?")])  # fmt: skip
    english = load_splits("fra-eng", "en-fra", data_dir=tmp_path)
    assert ("Go.", "Va !") in _pairs(english)


def test_tatoeba_three_column_zip_read_in_place(tmp_path, no_network):
    folder = tmp_path / "tatoeba-anki"
    folder.mkdir()
    with zipfile.ZipFile(folder / "ara-eng.zip", "w") as zf:
        zf.writestr("ara.txt", THREE_COLUMNS)
        zf.writestr("_about.txt", "about")
    splits = load_splits("ara-eng", "en-ara", data_dir=tmp_path)
    assert _pairs(splits) == [("Hi.", "Salut."), ("Run!", "Cours !")]
    assert splits.info["files"] == [f"{folder / 'ara-eng.zip'}!ara.txt"]


def test_tatoeba_mixed_bad_columns(tmp_path):
    (tmp_path / "tatoeba-anki").mkdir()
    text = TWO_COLUMNS + "one\n" + THREE_COLUMNS + "a\tb\tc\td\n"
    (tmp_path / "tatoeba-anki" / "fra.txt").write_text(text, encoding="utf-8")
    splits = load_splits("fra-eng", data_dir=tmp_path)
    assert len(_pairs(splits)) == 6
    (skipped,) = splits.info["skipped"].values()
    assert skipped == 2
    assert "line 5: expected 2 or 3" in splits.info["problems"][0]


# --- local files -------------------------------------------------------------------------


def test_local_tsv_jsonl_and_two_files_agree(tmp_path):
    pairs = [(f"source sentence {i}", f"target {i}") for i in range(300)]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps({"source": s, "target": t}) + "\n" for s, t in pairs))
    src, tgt = tmp_path / "src.txt", tmp_path / "tgt.txt"
    src.write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    tgt.write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    loaded = [load_splits(str(tsv)), load_splits(str(jsonl)), load_splits(f"{src}:{tgt}")]
    for splits in loaded:
        assert splits.sizes() == loaded[0].sizes()
        assert splits.train == loaded[0].train and splits.test == loaded[0].test
        assert _pairs(splits) == sorted(pairs)
        assert splits.info["direction"] == "source-target"
    assert loaded[0].sizes()["test"] > 0 and loaded[0].sizes()["validation"] > 0
    for name in ("train", "validation", "test"):
        assert all(hash_split(normalize_key(s)) == name for s, _ in loaded[0][name])
    reverse = load_splits(str(tsv), "target-source")
    assert sorted(reverse.train + reverse.validation + reverse.test) == sorted(
        (t, s) for s, t in pairs
    )
    chinese = load_splits(str(tsv), target_lang="zh")
    assert chinese.info["bleu_tokenize"] == "zh"


def test_local_jsonl_bad_records(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        '{"source": "a", "target": "b"}\n'
        "not json\n"
        '{"source": "a2"}\n'
        '{"source": "x", "target": ""}\n'
        "[1, 2]\n",
        encoding="utf-8",
    )
    splits = load_splits(str(path))
    assert _pairs(splits) == [("a", "b")]
    problems = splits.info["problems"][0]
    assert problems.startswith(
        f"skipped 4 malformed lines in {path} (first: line 2: not valid JSON"
    )
    strict = tmp_path / "third.jsonl"
    strict.write_text('{"source": "a", "target": "b"}\n{"source": "c", "target": "d"}\n{"x": 1}\n')
    with pytest.raises(CorpusError, match=rf"{re.escape(str(strict))}: line 3: needs string"):
        load_splits(str(strict), strict=True)


def test_two_files_bad_lines_and_misalignment(tmp_path):
    src, tgt = tmp_path / "a.de", tmp_path / "a.en"
    src.write_bytes(b"eins\nzwei\n\xc3(\nvier\n")
    tgt.write_bytes(b"one\n\nthree\nfour\n")
    splits = load_splits(f"{src}:{tgt}")
    assert _pairs(splits) == [("eins", "one"), ("vier", "four")]
    assert splits.info["skipped"] == {str(src): 1, str(tgt): 1}
    assert any(f"{tgt} (first: line 2: empty line" in p for p in splits.info["problems"])
    assert any(f"{src} (first: line 3: invalid UTF-8" in p for p in splits.info["problems"])
    tgt.write_text("one\ntwo\n")
    with pytest.raises(CorpusError, match="same number of lines"):
        load_splits(f"{src}:{tgt}")


def test_unknown_names_options_and_directions():
    with pytest.raises(CorpusError, match=r"unknown corpus 'spa'.*spa-eng.*multi30k.*dates"):
        get_corpus("spa")
    with pytest.raises(CorpusError, match=r"no direction 'es-en'.*spa-en.*en-spa"):
        load_splits("spa-eng", "es-en")
    with pytest.raises(CorpusError, match=r"does not take option 'colour'.*seed"):
        load_splits("dates", colour=1)
    with pytest.raises(MissingDataError, match="file not found"):
        load_splits("/no/such/file.tsv")


# --- missing data and downloads ----------------------------------------------------------


def test_missing_corpus_names_the_file_and_both_places(tmp_path, no_network):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    with pytest.raises(MissingDataError) as caught:
        load_splits("spa-eng", data_dir=data)
    message = str(caught.value)
    assert "spa-eng/spa.txt" in message and "spa-eng/spa-eng.zip" in message
    assert str(data / "spa-eng" / "spa.txt") in message
    assert str(cache / "spa-eng" / "spa.txt") in message
    assert "python -m translator.data fetch spa-eng" in message
    assert "storage.googleapis.com" in message
    assert "\n" not in message


def test_missing_without_data_dir_mentions_the_env_var(no_network):
    with pytest.raises(MissingDataError, match=r"TRANSLATOR_DATA_DIR.*multi30k/train\.de"):
        load_splits("multi30k")


def _zip_corpus(tmp_path: Path, sha256: str | None) -> tuple[Corpus, Path]:
    archive = tmp_path / "upstream" / "xyz-eng.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("xyz.txt", TWO_COLUMNS)
    corpus = Corpus(
        name="xyz-eng",
        description="test",
        licence="test",
        task="translation",
        directions=(Direction("xyz-en", "xx", "en", reverse=True),),
        files=(DataFile("xyz/xyz.txt", archive="xyz/xyz-eng.zip", member="xyz.txt"),),
        loader=lambda ctx: load_tatoeba(ctx, "xyz/xyz.txt"),
        downloads=(
            Download(
                url=archive.as_uri(),
                path="xyz/xyz-eng.zip",
                sha256=sha256,
                extract=unzip({"xyz.txt": "xyz/xyz.txt"}),
            ),
        ),
    )
    return corpus, archive


def test_fetch_downloads_verifies_and_extracts(tmp_path):
    corpus, archive = _zip_corpus(tmp_path, None)
    good = hashlib.sha256(archive.read_bytes()).hexdigest()
    corpus = dataclasses.replace(
        corpus, downloads=(dataclasses.replace(corpus.downloads[0], sha256=good),)
    )
    cache = tmp_path / "cache"
    with pytest.raises(MissingDataError):
        load_splits(corpus)
    splits = load_splits(corpus, download=True)  # file:// URL: no network involved
    assert (cache / "xyz" / "xyz-eng.zip").is_file() and (cache / "xyz" / "xyz.txt").is_file()
    assert not list(cache.rglob("*.part"))
    assert ("Va !", "Go.") in _pairs(splits)


def test_fetch_rejects_a_checksum_mismatch(tmp_path):
    corpus, _ = _zip_corpus(tmp_path, "0" * 64)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(corpus, tmp_path / "cache")
    assert not (tmp_path / "cache" / "xyz" / "xyz-eng.zip").exists()
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_fetch_from_a_manually_downloaded_kaggle_zip(tmp_path):
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for category in ("business", "tech"):
            for i in range(1, 4):
                zf.writestr(
                    f"BBC News Summary/News Articles/{category}/{i:03d}.txt",
                    f"Title {category} {i}\n\nFirst paragraph {i} of {category}. It says a lot "
                    f"about things.\n\nSecond paragraph with more words in it.\n",
                )
                zf.writestr(
                    f"BBC News Summary/Summaries/{category}/{i:03d}.txt",
                    f"First paragraph {i} of {category}.Second paragraph with more words in it.",
                )
    with pytest.raises(DownloadError, match="cannot be downloaded automatically"):
        fetch(get_corpus("bbc-news-summary"), tmp_path / "cache")
    fetch(get_corpus("bbc-news-summary"), tmp_path / "cache", source=archive)
    summary = load_splits("bbc-news-summary")
    assert len(_pairs(summary)) == 6
    assert all(". Second paragraph" in t for _, t in _pairs(summary))  # glue repaired
    titles = load_splits("bbc-news-summary", "lead-title")
    lead = "First paragraph 1 of tech. It says a lot about things."  # 10 words: too short,
    lead += " Second paragraph with more words in it."  # so the lead takes the next one too
    assert (lead, "Title tech 1") in _pairs(titles)


# --- reuters text cleaning ---------------------------------------------------------------


def test_reuters_cleaning_helpers():
    raw = "  Shares of &lt;MMT> rose\n    5 pct &amp; more.\n Reuter\n&#3;"
    assert clean_body(raw) == "Shares of <MMT> rose 5 pct & more."
    assert clean_body("It said. REUTER\n REUTER\n&#3;") == "It said."
    assert clean_body("the spokesman told Reuters.") == "the spokesman told Reuters."
    assert lower_title("USX <X> DEBT DOWNGRADED") == "usx <X> debt downgraded"
    assert lower_title("<BURTON GROUP PLC> SALES") == "<burton group plc> sales"
    assert lower_title("Mixed Case Stays") == "Mixed Case Stays"


# --- dates -------------------------------------------------------------------------------

_M = "(" + "|".join(MONTHS) + ")"
_MON = "(" + "|".join(m[:3] for m in MONTHS) + ")"
_WD = "(" + "|".join(WEEKDAYS) + ")"
_ORD = r"(\d{1,2})(?:st|nd|rd|th)"
#: Required format -> regex over the lower-cased source, groups giving the date.
DATE_PATTERNS = {
    "3 march 1998": (rf"(\d{{1,2}}) {_M} (\d{{4}})", "dmy"),
    "march 3, 1998": (rf"{_M} (\d{{1,2}}), (\d{{4}})", "mdy"),
    "tuesday 3 march 1998": (rf"{_WD} (\d{{1,2}}) {_M} (\d{{4}})", "wdmy"),
    "3 mar 1998": (rf"(\d{{1,2}}) {_MON} (\d{{4}})", "dmy"),
    "march 3rd 1998": (rf"{_M} {_ORD} (\d{{4}})", "mdy"),
    "1998-03-03": (r"(\d{4})-(\d{2})-(\d{2})", "ymd"),
    "03.03.1998": (r"(\d{2})\.(\d{2})\.(\d{4})", "dmy"),
}


def _parse(source: str) -> tuple[str, dt.date] | None:
    text = source.lower()
    for name, (pattern, order) in DATE_PATTERNS.items():
        match = re.fullmatch(pattern, text)
        if not match:
            continue
        parts = dict(zip(order, match.groups(), strict=True))
        month = parts["m"]
        month = (
            int(month) if month.isdigit() else [m[: len(month)] for m in MONTHS].index(month) + 1
        )
        date = dt.date(int(parts["y"]), month, int(parts["d"]))
        if "w" in parts:
            assert parts["w"] == WEEKDAYS[date.weekday()], source  # the right weekday
        return name, date
    return None


def test_dates_corpus_formats_weekdays_years_and_splits():
    splits = load_splits("dates")
    assert splits.sizes() == {"train": 20_000, "validation": 1_000, "test": 1_000}
    assert splits.info["direction"] == "human-iso"
    everything = splits.train + splits.validation + splits.test
    seen, years, cases = set(), set(), set()
    for source, target in everything:
        date = dt.date.fromisoformat(target)  # every target is ISO 8601
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", target)
        years.add(date.year)
        parsed = _parse(source)
        if parsed:
            seen.add(parsed[0])
            assert parsed[1] == date, (source, target)
        if source.islower():
            cases.add("lower")
        elif re.search(r"[A-Z][a-z]", source):
            cases.add("mixed")
    assert seen == set(DATE_PATTERNS), set(DATE_PATTERNS) - seen
    assert {"lower", "mixed"} <= cases
    assert min(years) <= 1902 and max(years) >= 2097 and 1900 <= min(years) <= max(years) <= 2099
    sources = [{s for s, _ in splits[n]} for n in ("train", "validation", "test")]
    assert sum(map(len, sources)) == len(everything)  # unique, and in one split only
    assert len(FORMATS) >= 7


def test_dates_are_deterministic_and_sized_by_options():
    a = load_splits("dates", seed=7, train_size=500, validation_size=50, test_size=40)
    b = load_splits("dates", seed=7, train_size=500, validation_size=50, test_size=40)
    c = load_splits("dates", seed=8, train_size=500, validation_size=50, test_size=40)
    assert a.sizes() == {"train": 500, "validation": 50, "test": 40}
    assert (a.train, a.validation, a.test) == (b.train, b.validation, b.test)
    assert a.train != c.train
    bigger = load_splits("dates", seed=7, train_size=900, validation_size=50, test_size=40)
    assert bigger.test == a.test  # the test split does not move with the training size


# --- command line ------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "translator.data", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_list(tmp_path):
    result = _cli("list", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("spa-eng", "multi30k", "cmn-eng", "reuters-21578", "dates"):
        assert name in out
    assert "spa-en, en-spa" in out
    assert "built in" in out
    assert "missing spa-eng/spa.txt" in out
    assert str(tmp_path) in out


def test_cli_info_on_a_local_file(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"hello number {i}\thola {i}\n" for i in range(400)), encoding="utf-8")
    result = _cli("info", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "direction:  source-target" in out
    assert re.search(r"train [\d,]+\s+validation [\d,]+\s+test [\d,]+\s+\(total 400\)", out)
    assert re.search(r"train\s+source\s+words\s+3\.0\s+3\s+3\s+3", out)
    assert "mean" in out and "median" in out and "p95" in out and "max" in out


def test_cli_info_dates_json():
    result = _cli("info", "dates", "--set", "train_size=300", "--set", "seed=3", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sizes"] == {"train": 300, "validation": 1000, "test": 1000}
    assert report["info"]["options"]["seed"] == 3
    assert set(report["lengths"]["train"]["source"]) == {"chars", "words"}


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    for args in (
        ("info", "no-such-corpus"),
        ("info", "spa-eng", "--data-dir", str(tmp_path)),
        ("info", "spa-eng", "--direction", "xx-yy"),
    ):
        result = _cli(*args, env={"TRANSLATOR_CACHE_DIR": str(tmp_path / "cache")})
        assert result.returncode == 2, args
        assert result.stderr.startswith("error: ")
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert "Traceback" not in result.stderr
