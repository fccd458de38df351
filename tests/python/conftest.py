import os
import sys

import pytest

SOURCE = os.environ.get("DYNDNN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tools"))


def _fixture_dir():
    d = os.environ.get("DYNDNN_FIXTURE_DIR")
    if not d:
        pytest.fail("DYNDNN_FIXTURE_DIR is not set: run the tests through ctest (the README's test command)")
    return d


@pytest.fixture
def fixture_dir():
    return _fixture_dir()


@pytest.fixture
def cli():
    path = os.environ.get("DYNDNN_CLI")
    if not path:
        pytest.fail("DYNDNN_CLI is not set: run the tests through ctest")
    return path
