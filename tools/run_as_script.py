"""Run notebooks' percent files (``notebooks/NN_*.py``) as plain scripts, where there is no Jupyter
(a borrowed GPU machine), and report how each went: its status, its wall time, the GPU memory it
peaked at, and what it printed (the findings included).

    python tools/run_as_script.py REPORT_DIR notebooks/05_zhou_cam.py [...] [--limit SECONDS]

Each notebook runs in its own process, from ``notebooks/`` as Jupyter would, all at once (they
share the machine: the times are a shared machine's); ``--limit`` stops one that runs longer.
REPORT_DIR gets ``NN_name.log`` (everything the notebook printed) and ``report.json``, one record a
notebook. Figures are drawn with matplotlib's Agg backend and dropped; explorers draw their first
figure without a kernel. IPython and ipywidgets must be importable (tools/gpu_session.sh carries
them as wheels).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What one child runs: the notebook's code, then a line with its record.
CHILD = r"""
import json, runpy, sys, time, traceback
import matplotlib
matplotlib.use("Agg")
path, start, status = sys.argv[1], time.perf_counter(), "ok"
try:
    runpy.run_path(path, run_name="__main__")
except SystemExit:
    pass
except BaseException as err:
    status = f"{type(err).__name__}: {str(err)[:500]}"
    traceback.print_exc()
import torch
peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
seconds = round(time.perf_counter() - start, 1)
print("\n@@report " + json.dumps({"status": status, "seconds": seconds,
                                "peak_gpu_gib": peak and round(peak, 2)}), flush=True)
"""


def run(paths: list[Path], report_dir: Path, limit: float) -> list[dict]:
    report_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p), PYTHONUNBUFFERED="1")
    jobs = []
    for path in paths:
        log = open(report_dir / f"{path.stem}.log", "w")
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path.resolve())],
                                cwd=path.resolve().parent, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        jobs.append((path, proc, log, time.monotonic()))
    records = []
    for path, proc, log, started in jobs:
        killed = False
        try:
            proc.wait(timeout=max(1.0, limit - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed = True
        log.close()
        text = (report_dir / f"{path.stem}.log").read_text(errors="replace")
        line = [t for t in text.splitlines() if t.startswith("@@report ")]
        record = (json.loads(line[-1].removeprefix("@@report ")) if line else
                  {"status": f"stopped at the {limit:.0f} s limit" if killed
                   else f"exit {proc.returncode} without a report", "seconds": None,
                   "peak_gpu_gib": None})
        records.append({"notebook": path.name, **record})
        print(f"{path.name}: {record['status']}, {record['seconds']} s, peak GPU memory "
              f"{record['peak_gpu_gib']} GiB", flush=True)
    (report_dir / "report.json").write_text(json.dumps(records, indent=1))
    return records


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    limit = 600.0
    if "--limit" in args:
        i = args.index("--limit")
        limit = float(args[i + 1])
        del args[i:i + 2]
    if len(args) < 2:
        print(__doc__)
        return 2
    records = run([Path(p) for p in args[1:]], Path(args[0]), limit)
    return 0 if all(r["status"] == "ok" for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
