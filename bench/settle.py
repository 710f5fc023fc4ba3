"""What the reading side pays for the inbox (docs/local-store.md, "The inbox"): a store whose
spans were all recorded through LLMObs into the local store's inbox (export_cost.py's unit: a
workflow span and an annotated llm child), then

- `llmobs traces` on it, Python's start-up included, which settles every span first; then
  `llmobs traces` again, with nothing left to settle (wall clock, median of 3, each on a
  fresh copy for the first);
- settling alone, µs a span (wall clock, median of 3 copies);
- with --instructions (needs valgrind): instructions a settled span, counted by cachegrind as
  (count(3n) - count(n)) / 2n spans, so start-up drops out.

    python bench/settle.py [--spans 100000] [--instructions]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LLMOBS = Path(sys.executable).parent / "llmobs"


def unsettled_store(path: Path, spans: int) -> Path:
    """A store holding `spans` spans, all in its inbox."""
    from export_cost import unit

    from llmobs_core import LLMObs
    from llmobs_core.export.local import LocalStoreSink

    LLMObs.enable(ml_app="bench", exporter=LocalStoreSink(path, max_spans=0), shutdown_timeout=60)
    for done in range(spans // 2):
        unit()
        if done % 5_000 == 4_999:
            assert LLMObs.flush(120)
    assert LLMObs.flush(120)
    LLMObs.disable()
    return path


def copy(store: Path, name: str) -> Path:
    target = store.with_name(name)
    shutil.copyfile(store, target)
    return target


def traces_command(store: Path) -> float:
    started = time.perf_counter()
    subprocess.run([LLMOBS, "--path", str(store), "traces"], check=True, capture_output=True)
    return time.perf_counter() - started


def settle_s(store: Path) -> float:
    from llmobs_core.store.settle import settle

    started = time.perf_counter()
    settle(store)
    return time.perf_counter() - started


def instructions(store: Path) -> int:
    from export_stages import instructions_of

    return instructions_of([sys.executable, "-c", "import sys, pathlib; from llmobs_core.store."
                            "settle import settle; settle(pathlib.Path(sys.argv[1]))", str(store)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--instructions", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    store = unsettled_store(folder / "unsettled.db", args.spans)
    first, again, settling = [], [], []
    for run in range(3):
        fresh = copy(store, f"traces-{run}.db")
        first.append(traces_command(fresh))
        again.append(traces_command(fresh))
        settling.append(settle_s(copy(store, f"settle-{run}.db")) * 1e6 / args.spans)
    print(f"{args.spans:,} spans in the inbox (export_cost.py's unit, 2 spans)")
    print(f"  llmobs traces, settling them first   {statistics.median(first):7.2f} s")
    print(f"  llmobs traces again, nothing to settle {statistics.median(again):5.2f} s")
    print(f"  settling alone                       {statistics.median(settling):7.1f} µs a span")
    if args.instructions:
        small = unsettled_store(folder / "small.db", args.spans // 10)
        large = unsettled_store(folder / "large.db", 3 * args.spans // 10)
        per_span = (instructions(large) - instructions(small)) / (2 * args.spans // 10)
        print(f"  settling alone                       {per_span:9,.0f} instructions a span")
    shutil.rmtree(folder)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
