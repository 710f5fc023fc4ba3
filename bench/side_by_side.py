"""Two checkouts of llmobs side by side: asgi_middleware.py's bare server and one traced server
from each checkout, loaded in the same run, rounds rotated, so that a change is judged against
the code before it on the same machine at the same moment.

On a shared VM a host's speed drifts by tens of percent within minutes (docs/asgi.md, "Cost"),
more than most changes are worth: two runs of asgi_middleware.py taken minutes apart cannot
tell a 5% change from the drift; servers measured round by round in one run can. Each side's
figure is the median of its rounds' own ratios to bare's round, its p99 over bare's, and its
server's CPU a request (steadier than requests/s on a busy host).

    python bench/side_by_side.py BEFORE_DIR AFTER_DIR [--server traced] [--rounds 10]
                                 [--seconds 2] [--protocol httptools|h11]

BEFORE_DIR and AFTER_DIR are checkouts (a `git worktree add` of the older commit, say), each
with its own compiled modules if the comparison is of the compiled build (`make compiled` in
each). The bare server runs from BEFORE_DIR. Needs wrk, like asgi_middleware.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from asgi_middleware import PROTOCOLS, SERVERS, load_in_rounds, start_server  # bench/ on path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--server", choices=[name for name in SERVERS if name != "bare"],
                        default="traced")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--protocol", choices=PROTOCOLS, default="httptools")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (make bench-tools, or apt-get install wrk)")
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    for checkout in checkouts.values():
        if not (checkout / "llmobs_core").is_dir():
            sys.exit(f"{checkout} is not a checkout of llmobs")
    stores = Path(tempfile.mkdtemp(prefix="llmobs-side-by-side-"))

    def started(name: str, side: str) -> tuple[int, subprocess.Popen]:
        env = {**os.environ, "PYTHONPATH": str(checkouts[side]),
               "LLMOBS_LOCAL_PATH": str(stores / f"{side}.{name}.db")}
        return start_server(name, args.protocol, env,
                            str(checkouts[side] / "bench" / "asgi_middleware.py"))

    servers = {"bare": started("bare", "before"), "before": started(args.server, "before"),
               "after": started(args.server, "after")}
    runs = load_in_rounds(servers, args.rounds, args.seconds, args.connections, True)
    bare_p99 = statistics.median(run["p99_ms"] for run in runs["bare"])
    print(f"{args.protocol}, {args.server} server, {args.rounds} rounds of {args.seconds:g} s; "
          f"bare {statistics.median(run['rps'] for run in runs['bare']):,.0f} requests/s, "
          f"p99 {bare_p99:.2f} ms, CPU {statistics.median(r['cpu_us'] for r in runs['bare']):.1f}"
          " µs a request")
    for side in ("before", "after"):
        ratio = statistics.median(run["rps"] / bare["rps"]
                                  for run, bare in zip(runs[side], runs["bare"]))
        p99 = statistics.median(run["p99_ms"] for run in runs[side]) - bare_p99
        cpu = statistics.median(run["cpu_us"] for run in runs[side])
        print(f"{side:6} ({checkouts[side]}): {ratio:.3f} of bare by rounds, p99 {p99:+.2f} ms "
              f"over bare's, server CPU {cpu:.1f} µs a request")


if __name__ == "__main__":
    main()
