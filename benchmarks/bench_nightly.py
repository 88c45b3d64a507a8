"""Benchmark: the default nightly report set end to end on the bundled data.

Runs ``quantlab report nightly`` (the shipped default config, 2 workers) in a fresh process into
a temporary folder, ``--repeat`` times, and prints the wall-clock seconds of the whole command
and of each notebook (as recorded in the night's ``nightly.json``). Target: <= 90 s on 2 cores.

    .venv/bin/python benchmarks/bench_nightly.py [--repeat N] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    for k in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "quantlab", "report", "nightly", "--out", tmp,
                   "--date", "2026-01-01", "--workers", str(args.workers)]
            t = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t
            if done.returncode != 0:
                sys.exit(f"nightly failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
            night = json.loads((Path(tmp) / "2026-01-01" / "nightly.json").read_text())
        runs = ", ".join(f"{r['name']} {r['elapsed']:.1f} s" for r in night["runs"])
        print(f"run {k + 1}: whole command {wall:.1f} s (target <= 90 s); {runs}")


if __name__ == "__main__":
    main()
