"""The Gradio page: one tab per task, its components, and the events that wire them.

:class:`DemoApp` is the request service (:class:`~translator.demo.service.DemoService`)
with a page: :meth:`DemoApp.build` returns the ``gr.Blocks`` app whose named endpoints
(``/translate``, ``/summarize``, ``/models``) the package doc describes.  Gradio is
imported when the page is built.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from translator.demo.catalog import TASK_TABS, ModelInfo
from translator.demo.service import (
    MAX_BEAM,
    MAX_N_BEST,
    NBEST_HEADERS,
    STRATEGY_ALIASES,
    STRATEGY_LABELS,
    DemoService,
    canonical_strategy,
)

if TYPE_CHECKING:  # gradio is imported when the page is built
    import gradio as gr

API_NAMES = {"translation": "translate", "summarization": "summarize"}
DEFAULT_CONCURRENCY = 2
#: Sessions whose state gradio keeps in memory (its default: 10,000).  Each API call
#: is a session of its own, and gradio keeps a session's inputs (up to
#: :data:`~translator.demo.guard.MAX_BODY_BYTES`), outputs (the heatmap's HTML) and a
#: copy of the page's config, about 150 KB; so the server's memory grew without bound
#: under load until 10,000 sessions (1.5 GB, and 1 MB more for each pasted megabyte).
#: The demo keeps no state between requests: the oldest sessions can go.
STATE_SESSIONS = 128
TITLE = "RNN translator demo"
INTRO = (
    "# RNN encoder–decoder demo\n"
    "Exported SavedModels from `exports/`: pick a model, type a sentence, "
    "and see the output, the n-best list and where the decoder attended."
)


@dataclass
class Decoding:
    """The decoding controls of one tab."""

    strategy: Any
    beam_size: Any
    length_penalty: Any
    temperature: Any
    n_best: Any
    seed: Any


@dataclass
class TaskTab:
    """The components of one tab that events read or update."""

    dropdown: Any
    about: Any
    source: Any
    examples: Any
    decoding: Decoding
    button: Any
    output: Any
    notes: Any
    table: Any
    heatmap: Any

    def inputs(self) -> list[Any]:
        """The endpoint's inputs, in the API's order."""
        d = self.decoding
        return [
            self.dropdown,
            self.source,
            d.strategy,
            d.beam_size,
            d.length_penalty,
            d.temperature,
            d.n_best,
            d.seed,
        ]

    def outputs(self) -> list[Any]:
        """The endpoint's outputs, in the API's order."""
        return [self.output, self.table, self.heatmap, self.notes]


def initial_strategy(decode: Mapping[str, Any]) -> str:
    """The strategy selected for a model's decode defaults (beam when unknown)."""
    return canonical_strategy(decode.get("strategy", "beam")) or "beam"


def _samples(info: ModelInfo | None) -> list[list[str]]:
    return [[e] for e in (info.examples if info else ())]


# --------------------------------------------------------------------------- components


def strategy_radio(value: str) -> gr.Radio:
    """The strategy buttons: the page shows ``sampling``, the value is ``sample``.

    Requests may still send ``sampling`` (:data:`STRATEGY_ALIASES`, as API clients
    did before the canonical names): it is mapped before gradio checks the choice.
    """
    import gradio as gr

    choices = [(label, name) for name, label in STRATEGY_LABELS.items()]
    radio = gr.Radio(choices, value=value, label="Strategy")
    check = radio.preprocess

    def preprocess(payload: Any) -> Any:
        if isinstance(payload, str):
            payload = STRATEGY_ALIASES.get(payload, payload)
        return check(payload)

    radio.preprocess = preprocess  # type: ignore[method-assign]
    return quiet(radio)


def quiet(component: Any) -> Any:
    """``component`` whose gradio checks (a value not among the choices) refuse a
    request without printing a traceback to the server log: the client gets the same
    message, and a client sending bad values cannot flood the log."""
    import gradio as gr

    check = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return check(payload)
        except gr.Error as err:
            err.print_exception = False
            raise

    component.preprocess = preprocess  # type: ignore[method-assign]
    return component


def lenient(component: Any) -> Any:
    """``component`` handing the raw request value to the service.

    Gradio's sliders refuse out-of-range API values with an unnamed "Value 0 is less than
    minimum value 1." and fail without a message on text, NaN or None;
    :meth:`~translator.demo.service.DecodeSettings.from_request` clamps them instead (or
    takes the default) and the notes say which setting it changed.  The page's own
    controls only send values in range.
    """
    component.preprocess = lambda payload: payload  # type: ignore[method-assign]
    return component


def decoding_controls(defaults: Mapping[str, Any]) -> Decoding:
    """The strategy and its settings, the ones the strategy does not use hidden.

    The numbers are :func:`lenient`: the service checks them.
    """
    import gradio as gr

    initial = initial_strategy(defaults)
    beam, sampling = initial == "beam", initial == "sample"
    d = Decoding(
        strategy=strategy_radio(initial),
        beam_size=gr.Slider(
            1,
            MAX_BEAM,
            value=int(defaults.get("beam_size", 5)),
            step=1,
            label="Beam width",
            visible=beam,
        ),
        length_penalty=gr.Slider(
            0.0,
            2.0,
            value=float(defaults.get("length_penalty", 1.0)),
            step=0.1,
            label="Length penalty (GNMT α)",
            visible=beam,
        ),
        temperature=gr.Slider(
            0.05,
            2.0,
            value=float(defaults.get("temperature", 1.0)),
            step=0.05,
            label="Temperature (sampling)",
            visible=sampling,
        ),
        n_best=gr.Slider(
            1, MAX_N_BEST, value=3, step=1, label="n-best", visible=initial != "greedy"
        ),
        seed=gr.Number(value=0, precision=0, minimum=0, label="Seed (sampling)", visible=sampling),
    )
    for control in (d.beam_size, d.length_penalty, d.temperature, d.n_best, d.seed):
        lenient(control)
    return d


def input_column(app: DemoService, task: str, models: Sequence[ModelInfo]) -> dict[str, Any]:
    """The left column: model, its description, input, examples, decoding, button."""
    import gradio as gr

    first = models[0] if models else None
    with gr.Column(scale=2, min_width=320):
        dropdown = quiet(
            gr.Dropdown(
                choices=[(info.label, info.name) for info in models],
                value=first.name if first else None,
                label="Model",
                interactive=True,
                elem_id=f"{task}-model",
            )
        )
        about = gr.Markdown(app.describe(first.name if first else None))
        source = gr.Textbox(
            label="Input",
            placeholder="Type or paste text…",
            lines=6 if task == "summarization" else 3,
            max_lines=20,
            elem_id=f"{task}-input",
        )
        examples = gr.Dataset(
            components=[source], samples=_samples(first), label="Examples", type="values"
        )
        with gr.Accordion("Decoding", open=True):
            decoding = decoding_controls(first.decode_defaults if first else {})
        button = gr.Button(TASK_TABS[task], variant="primary", elem_id=f"{task}-button")
    return {
        "dropdown": dropdown,
        "about": about,
        "source": source,
        "examples": examples,
        "decoding": decoding,
        "button": button,
    }


def output_column(task: str) -> dict[str, Any]:
    """The right column: the best output, the notes and the n-best table."""
    import gradio as gr

    noun = "Summary" if task == "summarization" else "Translation"
    with gr.Column(scale=3, min_width=400):
        output = gr.Textbox(
            label=noun, lines=2, interactive=False, buttons=["copy"], elem_id=f"{task}-output"
        )
        notes = gr.Markdown(elem_id=f"{task}-notes")
        table = gr.Dataframe(
            headers=NBEST_HEADERS,
            datatype=["number", "str", "number", "number", "number"],
            label="n-best (beam: length-normalized score; otherwise log-probability)",
            interactive=False,
            wrap=True,
            elem_id=f"{task}-nbest",
        )
    return {"output": output, "notes": notes, "table": table}


def task_tab(app: DemoService, task: str) -> TaskTab:
    """The components and events of one tab (inside a ``gr.Blocks`` context)."""
    import gradio as gr

    models = app.models_for(task)
    if not models and app.models:  # with no model at all, the page banner says it
        gr.Markdown(app.no_model_message(task, markdown=True), elem_classes=["no-model"])
    with gr.Row(equal_height=False):
        left = input_column(app, task, models)
        right = output_column(task)
    # Full width below both columns: the heatmap's labels stay readable.
    heatmap = gr.HTML(
        label="Attention (outputs down, source across)",
        show_label=False,
        elem_id=f"{task}-heatmap",
    )
    tab = TaskTab(**left, **right, heatmap=heatmap)
    wire_run(app, task, tab)
    wire_examples(tab)
    wire_strategy(tab.decoding)
    wire_model(app, tab)
    return tab


# --------------------------------------------------------------------------- events


def wire_run(app: DemoService, task: str, tab: TaskTab) -> None:
    """The button is the named endpoint; Enter in the input runs it too (unnamed)."""
    inputs, outputs = tab.inputs(), tab.outputs()
    verb = TASK_TABS[task]
    tab.button.click(
        app.endpoint(task),
        inputs,
        outputs,
        api_name=API_NAMES[task],
        api_description=f"{verb} text with an exported model (see translator.demo).",
    )
    tab.source.submit(app.endpoint(task), inputs, outputs, api_visibility="private")


def wire_examples(tab: TaskTab) -> None:
    """Clicking an example puts it in the input."""
    tab.examples.click(
        lambda sample: sample[0] if sample else "",
        tab.examples,
        tab.source,
        api_visibility="private",
        queue=False,
    )


def wire_strategy(decoding: Decoding) -> None:
    """Shows the settings the chosen strategy uses, hides the others."""
    import gradio as gr

    def on_strategy(choice: str) -> tuple[Any, ...]:
        beam, sampling = choice == "beam", choice == "sample"
        return (
            gr.Slider(visible=beam),
            gr.Slider(visible=beam),
            gr.Slider(visible=sampling),
            gr.Number(visible=sampling),
            gr.Slider(visible=choice != "greedy"),
        )

    d = decoding
    d.strategy.change(
        on_strategy,
        d.strategy,
        [d.beam_size, d.length_penalty, d.temperature, d.seed, d.n_best],
        api_visibility="private",
        queue=False,
    )


def wire_model(app: DemoService, tab: TaskTab) -> None:
    """Picking a model shows its description and examples and its decode defaults."""
    import gradio as gr

    def on_model(name: str | None) -> tuple[Any, ...]:
        info = app.models.get(name or "")
        decode = info.decode_defaults if info else {}
        return (
            app.describe(name),
            gr.Dataset(samples=_samples(info)),
            gr.Radio(value=initial_strategy(decode)),
            gr.Slider(value=int(decode.get("beam_size", 5))),
            gr.Slider(value=float(decode.get("length_penalty", 1.0))),
        )

    d = tab.decoding
    tab.dropdown.change(
        on_model,
        tab.dropdown,
        [tab.about, tab.examples, d.strategy, d.beam_size, d.length_penalty],
        api_visibility="private",
        queue=False,
    )


# --------------------------------------------------------------------------- the app


@functools.cache
def demo_blocks_class() -> type[gr.Blocks]:
    """``gr.Blocks`` with the demo's guards (a class made once gradio is imported).

    * ``launch`` installs :class:`~translator.demo.guard.RequestGuard` (413 for JSON
      bodies over 2 MiB; bytes that are not UTF-8 reach the service, which replaces
      them and says so) in front of gradio's routes, and keeps at most
      :data:`STATE_SESSIONS` sessions in memory (unless told otherwise);
    * a request with too few inputs gets a message naming the inputs, not gradio's
      bare error (whose details only the server log shows).
    """
    import gradio as gr
    from starlette.middleware import Middleware

    from translator.demo.guard import RequestGuard

    class DemoBlocks(gr.Blocks):
        def launch(self, *args: Any, **kwargs: Any) -> Any:
            app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
            middleware = list(app_kwargs.get("middleware") or ())
            app_kwargs["middleware"] = [*middleware, Middleware(RequestGuard)]
            kwargs.setdefault("state_session_capacity", STATE_SESSIONS)
            return super().launch(*args, app_kwargs=app_kwargs, **kwargs)

        def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
            try:
                super().validate_inputs(block_fn, inputs)
            except ValueError:
                wanted = len(block_fn.inputs)
                try:
                    names = list(inspect.signature(block_fn.fn).parameters)[:wanted]
                except (TypeError, ValueError):
                    names = []
                listed = f" ({', '.join(names)})" if len(names) == wanted else ""
                raise gr.Error(
                    f"This endpoint takes {wanted} inputs{listed}; the request sent {len(inputs)}.",
                    title="Cannot run",
                    print_exception=False,
                ) from None

    DemoBlocks.__doc__ = demo_blocks_class.__doc__
    return DemoBlocks


class DemoApp(DemoService):
    """The request service with its page (see :meth:`build`).

    Args:
        models_dir: where the exports are (``exports/``); read once, here.
        cache: a :class:`~translator.demo.catalog.ModelCache` to use (default: one
            over the discovered models).
    """

    def build(self) -> gr.Blocks:
        """The ``gr.Blocks`` app (queue set: at most ``DEFAULT_CONCURRENCY`` jobs at once;
        the guards of :func:`demo_blocks_class`)."""
        import gradio as gr

        with demo_blocks_class()(title=TITLE, analytics_enabled=False) as demo:
            gr.Markdown(INTRO)
            if not self.models:
                gr.Markdown(self.no_model_message(markdown=True), elem_id="no-model")
            for task, title in TASK_TABS.items():
                with gr.Tab(title, id=task):
                    task_tab(self, task)
            gr.api(self.list_models, api_name="models")
        demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=256)
        return demo


def build_demo(models_dir: str | Path = "exports") -> gr.Blocks:
    """The demo over the exports in ``models_dir`` (see the package doc)."""
    return DemoApp(models_dir).build()


def main(argv: list[str] | None = None) -> int:
    """``python app.py``: see the package doc."""
    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="Gradio demo of the exported translation/summarization models.",
    )
    parser.add_argument("--models", default="exports", help="folder of exports (default: exports)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    args = parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    app = DemoApp(args.models)
    if app.models:
        print("Models: " + "; ".join(info.label for info in app.models.values()))
    else:
        print(app.no_model_message(), file=sys.stderr)
    demo = app.build()
    try:
        demo.launch(server_name=args.host, server_port=args.port, share=args.share)
    except OSError as err:
        print(
            f"error: cannot listen on {args.host}:{args.port} ({err}); "
            "pick another port with --port",
            file=sys.stderr,
        )
        return 2
    return 0


__all__ = [
    "API_NAMES",
    "DEFAULT_CONCURRENCY",
    "STATE_SESSIONS",
    "DemoApp",
    "TaskTab",
    "build_demo",
    "demo_blocks_class",
    "lenient",
    "main",
    "quiet",
    "strategy_radio",
    "task_tab",
]
