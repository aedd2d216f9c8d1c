"""Shared test settings: quiet TensorFlow, deterministic seeds, the real-data folder."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import pytest


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real corpora (``TRANSLATOR_DATA_DIR``); tests that need them skip without."""
    value = os.environ.get("TRANSLATOR_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("TRANSLATOR_DATA_DIR is not set to a folder with the real corpora")
    return Path(value)
