"""`make bench`: run every benchmark in turn and print their figures.

Each script also runs alone with its own flags (see bench/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["redeem_bench.py", "print_bench.py", "settle_bench.py", "backup_bench.py"]


def main() -> int:
    failed = 0
    for name in SCRIPTS:
        script = HERE / name
        if not script.exists():
            print(f"== {name}: missing", flush=True)
            failed += 1
            continue
        print(f"\n== {name}", flush=True)
        failed += subprocess.call([sys.executable, str(script)]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
