"""Command line: ``python -m translator.data {list,info,fetch}``.

* ``list``: the registered corpora, their directions, and where each is found locally.
* ``info NAME [--direction DIR] [--data-dir D]``: split sizes, length statistics,
  the files read and the lines skipped.
* ``fetch NAME``: download into the cache with a progress bar and verify the checksum.

Errors print one line to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from translator.data.download import fetch
from translator.data.errors import CorpusError
from translator.data.load import load_splits
from translator.data.locate import default_cache_dir, locate_with_roots, search_dirs
from translator.data.registry import get_corpus, list_corpora
from translator.data.splits import SPLIT_NAMES
from translator.data.stats import UNITS, split_stats


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> None:
    rows = []
    for corpus in list_corpora():
        if not corpus.files:
            status = "built in (no files needed)"
        else:
            _, missing, roots = locate_with_roots(corpus, args.data_dir)
            if missing:
                status = (
                    f"missing {missing[0].path} (python -m translator.data fetch {corpus.name})"
                )
            else:
                status = "found in " + ", ".join(f"{folder} ({label})" for folder, label in roots)
        rows.append(
            [corpus.name, corpus.task, ", ".join(corpus.direction_names), corpus.size, status]
        )
    print(_table(rows, ["corpus", "task", "directions", "size", "local copy"]))
    looked = "; ".join(f"{folder} ({label})" for folder, label in search_dirs(args.data_dir))
    print(f"\nlooked in: {looked}")
    print("local files also work as a corpus: pairs.tsv, pairs.jsonl, or src.txt:tgt.txt")


def _scalar(raw: str) -> Any:
    """``true``/``false``/``null``, an int or a float, else the string itself."""
    lowered = raw.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("null", "none", ""):
        return None
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw.strip()


def _parse_options(assignments: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CorpusError(f"--set {item!r}: expected KEY=VALUE")
        options[key.strip()] = _scalar(raw)
    return options


def cmd_info(args: argparse.Namespace) -> None:
    options = _parse_options(args.set)
    splits = load_splits(
        args.name, args.direction, args.data_dir, args.strict, args.download, **options
    )
    stats = split_stats(splits)
    if args.json:
        print(
            json.dumps(
                {"sizes": splits.sizes(), "info": splits.info, "lengths": stats},
                indent=2,
                ensure_ascii=False,
                default=str,
            )
        )
        return
    info = splits.info
    corpus = get_corpus(args.name) if info["corpus"] == args.name else None
    sizes = splits.sizes()
    print(f"corpus:     {info['corpus']} - {info['description']}")
    print(
        f"direction:  {info['direction']} ({info['source_lang']} -> {info['target_lang']}), "
        f"task {info['task']}, BLEU tokenizer {info['bleu_tokenize']}"
    )
    if corpus is not None:
        print(f"licence:    {corpus.licence}")
    print(f"splits:     {info['split_rule']}")
    print(
        "sizes:      "
        + "  ".join(f"{name} {sizes[name]:,}" for name in SPLIT_NAMES)
        + f"  (total {sum(sizes.values()):,})"
    )
    files = info["files"]
    shown = files if len(files) <= 6 else [*files[:3], f"... {len(files) - 3} more"]
    print("files:      " + ("\n            ".join(shown) if shown else "none (generated)"))
    print("skipped:    " + ("\n            ".join(info["problems"]) or "no malformed lines"))
    for key in ("reuters_skipped_stories", "groups"):
        if key in info:
            print(f"{key}: {info[key]}")
    rows = []
    for name in SPLIT_NAMES:
        for side in ("source", "target"):
            for unit in UNITS:
                s = stats[name][side][unit]
                rows.append(
                    [
                        name,
                        side,
                        unit,
                        f"{s['mean']:.1f}",
                        f"{s['median']:g}",
                        f"{s['p95']:g}",
                        f"{s['max']:g}",
                    ]
                )
    print()
    print(_table(rows, ["split", "side", "unit", "mean", "median", "p95", "max"]))
    for name in SPLIT_NAMES:
        if splits[name]:
            source, target = splits[name][0]
            print(f"\nfirst {name} pair:\n  {source[:200]}\n  -> {target[:200]}")
            break


def cmd_fetch(args: argparse.Namespace) -> None:
    corpus = get_corpus(args.name)
    cache = args.cache_dir or default_cache_dir()
    written = fetch(corpus, cache, force=args.force, source=args.source)
    print(f"{corpus.name}: {len(written)} files in {cache}")
    for path in written[:10]:
        print(f"  {path}")
    if len(written) > 10:
        print(f"  ... {len(written) - 10} more")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m translator.data", description="List, inspect and download corpora."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="registered corpora and where they are found")
    p.add_argument("--data-dir", help="folder to look in first (default: $TRANSLATOR_DATA_DIR)")
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("info", help="split sizes and length statistics of a corpus")
    p.add_argument("name", help="registered corpus name, or a .tsv/.jsonl path, or src:tgt")
    p.add_argument("--direction", help="e.g. spa-en (default: the corpus' first direction)")
    p.add_argument("--data-dir", help="folder to look in first (default: $TRANSLATOR_DATA_DIR)")
    p.add_argument("--strict", action="store_true", help="fail on the first malformed line")
    p.add_argument("--download", action="store_true", help="download the corpus if missing")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="loader option, e.g. uppercase_titles=false or train_size=1000",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("fetch", help="download a corpus into the cache and verify it")
    p.add_argument("name", help="registered corpus name")
    p.add_argument("--cache-dir", help=f"download cache (default: {default_cache_dir()})")
    p.add_argument("--force", action="store_true", help="download again even if present")
    p.add_argument(
        "--from",
        dest="source",
        metavar="FILE",
        help="unpack this local copy of the archive instead of downloading",
    )
    p.set_defaults(run=cmd_fetch)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit status (2 on any error, with one line on stderr)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        args.run(args)
    except CorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
