"""Command line: ``python -m translator.export --run runs/<name> --out exports/<name>``.

Exports a trained run as a self-contained SavedModel (tokenizers, weights and the
decoding loop as TF graphs, plus ``assets/metadata.json``; see
:mod:`translator.exporting` and :mod:`translator.serving`).  ``--checkpoint best``
(default) or ``final``; ``--force`` replaces an existing export.  Loading it needs only
TensorFlow and tensorflow-text (``import tensorflow_text`` first: it registers the
tokenizer ops).
"""

from __future__ import annotations

import argparse
import os
import sys

CHECKPOINTS = ("best", "final")


def main(argv: list[str] | None = None) -> int:
    """``python -m translator.export``: see the module doc."""
    parser = argparse.ArgumentParser(
        prog="python -m translator.export",
        description="Export a trained run as a SavedModel (tokenizers + decoding included). "
        "Load it with `import tensorflow_text` first: it registers the tokenizer ops.",
    )
    parser.add_argument("--run", required=True, help="run folder (runs/<name>)")
    parser.add_argument("--out", required=True, help="export folder (exports/<name>)")
    parser.add_argument(
        "--checkpoint", choices=CHECKPOINTS, default="best", help="which weights (default: best)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing export")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    from translator.exporting import ExportError, export_run

    try:
        out = export_run(args.run, args.out, checkpoint=args.checkpoint, overwrite=args.force)
    except (ExportError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"Exported {args.run} to {out}\n"
        "Load it with TensorFlow and tensorflow-text (import tensorflow_text first: it "
        "registers the tokenizer ops):\n"
        "  import tensorflow as tf, tensorflow_text\n"
        f"  model = tf.saved_model.load({str(out)!r})\n"
        "  model.signatures['serving_default'](text=tf.constant(['...']))\n"
        f"or: python -m translator.translate --model {out} --text '...'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
