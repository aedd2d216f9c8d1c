"""Gradio demo of the exported models: ``python app.py [--models exports/] [--port 7860]``.

The app itself lives in :mod:`translator.demo` (importable by tests and notebooks);
this file only launches it.  See ``python app.py --help``.
"""

import sys

from translator.demo import main

if __name__ == "__main__":
    sys.exit(main())
