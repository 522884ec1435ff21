"""Device rules (issue 14) for dissection, similarity and calibration: inputs go to the model's
device, results come back on the input's device. ``device_cases_api2.run`` calls them with the
model and the input on different devices: here on a real CUDA device when there is one, and
without one in a subprocess under a CPU stand-in for CUDA that applies its device rules
(``simcuda``, a tool outside this repository: found through ``SIMCUDA_DIR`` or in
``../shared/tools/simcuda``; skipped when absent), and on the CPU everywhere."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import device_cases_api2

ROOT = Path(__file__).resolve().parent.parent


def _simcuda_dir():
    candidates = [os.environ.get("SIMCUDA_DIR", "")] + [
        str(p / "shared" / "tools" / "simcuda") for p in (ROOT.parent, ROOT.parent.parent)]
    for c in candidates:
        if c and (Path(c) / "simcuda.py").is_file():
            return Path(c)
    return None


def test_kernels_on_the_cpu():
    failures = device_cases_api2.run("cpu")
    assert not failures, "\n".join(failures)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_kernels_across_devices_on_cuda():
    failures = device_cases_api2.run("cuda")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_kernels_across_devices_under_simulated_cuda():
    sim = _simcuda_dir()
    if sim is None:
        pytest.skip("simcuda not found (set SIMCUDA_DIR to run the device rules without a GPU)")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import simcuda; simcuda.install(); "
            "import device_cases_api2; sys.exit(device_cases_api2.main())")
    env = dict(os.environ, SIM_MODE="raise",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"),
                                           os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-c", code, str(sim)], capture_output=True, text=True,
                         env=env, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
