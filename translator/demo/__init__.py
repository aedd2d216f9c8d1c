"""The Gradio demo: translate or summarize with the exported SavedModels.

    python app.py [--models exports/] [--host 127.0.0.1] [--port 7860] [--share]

The demo serves what ships: the SavedModels written by ``python -m translator.export``
(each subfolder of ``--models`` holding a ``saved_model.pb``), loaded lazily with
:func:`translator.serving.load_exported` and cached in a
:class:`~translator.demo.catalog.ModelCache`.  Models whose metadata says
``task: summarization`` go to the *Summarize* tab, the others to *Translate*.

Each tab has one named API endpoint (``/translate``, ``/summarize``), callable with
``gradio_client``::

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/", analytics_enabled=False)
    text, nbest, heatmap, notes = client.predict(
        "dates", "tuesday 3 march 1998", "beam", 5, 1.0, 1.0, 3, 0, api_name="/translate"
    )

Inputs, in order: ``model`` (a name listed by ``/models``), ``text``, ``strategy``
(``greedy`` | ``beam`` | ``sample``, the names of :data:`translator.config.STRATEGIES`;
``sampling``, the page's label, is accepted too), ``beam_size`` (1-16),
``length_penalty`` (GNMT alpha, 0-2), ``temperature`` (sampling, 0.05-2), ``n_best``
(1-10), ``seed``.  Outputs: the best output text; the n-best table ``{"headers": [...], "data":
[[rank, text, score, log_prob, tokens], ...]}``; the attention heatmap as
an HTML table (labels are text, so any script renders; each cell's ``title`` and
``data-source`` / ``data-output`` / ``data-weight`` give its pieces and weight; ``""``
for models without attention); notes (Markdown: truncation, timing, warnings).  Empty
input, an unknown model or no model at all raise an error whose message says what
to do (``gradio_client`` raises ``AppError`` with it).  Numbers out of range are
clamped and unreadable ones (text, NaN) take the default, and the notes say so; inputs
longer than 20,000 characters are cut, and text that is not valid UTF-8 has its
undecodable bytes replaced (noted too); JSON request bodies over 2 MiB are refused
(413), and the server keeps at most 128 sessions' state in memory.  ``/models``
lists the models: name, task, label, examples.

The page never accepts a file-system path: the dropdowns offer only the names
found at startup, and requests naming anything else are refused.

The package has one idea per module: :mod:`translator.demo.catalog` (finding the
exports and describing them), :mod:`translator.demo.service` (validating a request and
answering it), :mod:`translator.demo.guard` (the HTTP guard before gradio's routes) and
:mod:`translator.demo.page` (the Gradio page and ``main``).
"""

from translator.demo.catalog import (
    DEFAULT_EXAMPLES,
    TASK_TABS,
    ModelCache,
    ModelInfo,
    default_examples,
    describe_model,
    describe_variant,
    direction_text,
    discover_models,
    model_label,
    model_score,
    read_metadata,
)
from translator.demo.guard import MAX_BODY_BYTES, RequestGuard
from translator.demo.page import API_NAMES, DEFAULT_CONCURRENCY, DemoApp, build_demo, main
from translator.demo.service import (
    EMPTY_MESSAGE,
    MAX_BEAM,
    MAX_INPUT_CHARS,
    MAX_N_BEST,
    NBEST_HEADERS,
    STRATEGIES,
    STRATEGY_LABELS,
    DecodeSettings,
    DemoError,
    DemoResult,
    DemoService,
    clean_input,
)

__all__ = [
    "API_NAMES",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_EXAMPLES",
    "EMPTY_MESSAGE",
    "MAX_BEAM",
    "MAX_BODY_BYTES",
    "MAX_INPUT_CHARS",
    "MAX_N_BEST",
    "NBEST_HEADERS",
    "STRATEGIES",
    "STRATEGY_LABELS",
    "TASK_TABS",
    "DecodeSettings",
    "DemoApp",
    "DemoError",
    "DemoResult",
    "DemoService",
    "ModelCache",
    "ModelInfo",
    "RequestGuard",
    "build_demo",
    "clean_input",
    "default_examples",
    "describe_model",
    "describe_variant",
    "direction_text",
    "discover_models",
    "main",
    "model_label",
    "model_score",
    "read_metadata",
]
