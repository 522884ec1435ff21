"""Device rules (issue 14): every kernel moves its input to the model's device and returns on the
input's device. ``device_cases.run`` (the attribution methods and the kernels that take images)
and ``device_cases_papers.run`` (dissection, similarity, calibration) call them with the model and
the input on different devices: here on a real CUDA device, and, without one, in a subprocess
under a CPU stand-in for CUDA that applies its device rules (``simcuda``, a tool outside this
repository: found through ``SIMCUDA_DIR`` or in ``../shared/tools/simcuda``; skipped when absent).
The project's own checks of the same rules run everywhere in ``tests/test_attribution.py``."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import device_cases
import device_cases_papers

CASES = {"methods": device_cases, "papers": device_cases_papers}

ROOT = Path(__file__).resolve().parent.parent


def _simcuda_dir():
    candidates = [os.environ.get("SIMCUDA_DIR", "")] + [
        str(p / "shared" / "tools" / "simcuda") for p in (ROOT.parent, ROOT.parent.parent)]
    for c in candidates:
        if c and (Path(c) / "simcuda.py").is_file():
            return Path(c)
    return None


def test_kernels_of_papers_6_to_11_on_the_cpu():
    failures = device_cases_papers.run("cpu")
    assert not failures, "\n".join(failures)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("cases", sorted(CASES))
def test_kernels_across_devices_on_cuda(cases):
    failures = CASES[cases].run("cuda")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("cases", sorted(CASES))
def test_kernels_across_devices_under_simulated_cuda(cases):
    sim = _simcuda_dir()
    if sim is None:
        pytest.skip("simcuda not found (set SIMCUDA_DIR to run the device rules without a GPU)")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import simcuda; simcuda.install(); "
            f"import {CASES[cases].__name__} as cases; sys.exit(cases.main())")
    env = dict(os.environ, SIM_MODE="raise",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"),
                                           os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-c", code, str(sim)], capture_output=True, text=True,
                         env=env, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
