"""The benchmark tables in docs/, generated from the committed result files.

A doc quotes a benchmark between two markers::

    <!-- bench:online -->
    ...generated table...
    <!-- /bench:online -->

``python -m benchmarks.docs`` rewrites every marked block from
``benchmarks/results/<name>.json`` through the benchmark module's ``table(document)``;
``--check`` only reports blocks that differ (a test runs it, so docs cannot drift from the
results they quote).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from benchmarks.harness import ROOT, load_result

DOCS = ROOT / "docs"
BLOCK = re.compile(r"(<!-- bench:([\w-]+) -->\n)(.*?)(<!-- /bench:\2 -->)", re.DOTALL)


def _source_line(document: dict[str, object]) -> str:
    machine = document["machine"]
    assert isinstance(machine, dict)
    load = machine.get("load_average")
    share = document.get("cpu_steal_share")
    steal = f"; CPU time stolen by other guests {share:.0%}" if share is not None else ""
    return (
        f"_Measured {machine.get('date')} on {machine.get('cpus')} CPUs (load average before "
        f"{load}, after {document.get('load_average_after')}{steal}), commit "
        f"{machine.get('commit')}; "
        f"reproduce with `{document['command']}`; raw figures in "
        f"`benchmarks/results/{document['benchmark']}.json`._\n"
    )


def render_block(name: str) -> str:
    """The text between the markers for benchmark ``name``."""
    from benchmarks.__main__ import BENCHMARKS

    document = load_result(name)
    if document is None:
        return f"_No result yet: run `nox -s bench -- {name}`._\n"
    module = importlib.import_module(BENCHMARKS[name])
    table: str = module.table(document["result"])
    return table.rstrip("\n") + "\n\n" + _source_line(document)


def updated(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render_block(m.group(2)) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="report differences, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(DOCS.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        new = updated(text)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{'differs' if args.check else 'rewritten'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
