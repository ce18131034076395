"""Compatibility with the original Intent Bus (the Flask server v7.61, its
PyPI SDK and CLI): our server driven the way the original's clients and its
own test suite drive a server, over real HTTP. The shared pieces are in
compat_support.py; this file only declares the fixtures."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compat_support import harness, original_env  # noqa: E402

server_factory = harness.server_factory  # tests/http's fixture, re-exported for this suite


@pytest.fixture
def bus(server_factory):
    """A server with the original tests' settings."""
    return server_factory(env=original_env())
