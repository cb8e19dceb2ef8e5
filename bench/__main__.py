"""`make bench`: every benchmark, each printing its figures as ratios against a floor
measured in the same run. BENCH_SCALE=0.2 runs a quick, smaller pass.

Each benchmark runs in an interpreter of its own: the heap, the collector settings and the
threads one leaves behind do not weigh on the next one's figures. ``python -m bench
delivery`` runs one of them.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("messaging_rules", "messaging_api", "taxonomy", "ingest", "delivery")


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
        return 2
    failed = 0
    for name in names or BENCHMARKS:
        failed |= subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
