"""The benchmark tables in docs/ are exactly what the committed result files say."""

from __future__ import annotations

from benchmarks.docs import main


def test_docs_quote_the_committed_results() -> None:
    assert main(["--check"]) == 0, "run `python -m benchmarks.docs` (or `nox -s bench`)"
