#!/usr/bin/env bash
# A borrowed GPU machine's few minutes, in one prepared command: train zoo checkpoints, run the
# notebooks there as scripts, and bring back what both made. The machine has torch, no Jupyter,
# no network and not ../shared: `prepare` packs what it lacks into git-ignored folders to carry.
#
#   here:   tools/gpu_session.sh prepare             # .device/data (CIFAR-10) and .whl (IPython)
#   there:  tools/gpu_session.sh train SECONDS [JOB...]      # OUT must be set (device tool)
#   there:  tools/gpu_session.sh notebooks SECONDS [NB.py...]
#   here:   tools/gpu_session.sh unpack FOLDER       # the files the device tool brought back
#
# train: a JOB is a zoo model, optionally with seeds, "model_c:0,1,2" (one process trains its
# seeds one after the other; the jobs run at the same time and share the GPU). Without jobs, every
# unfinished committed training continues and every model due for retraining starts (its recipe
# changed, or the model it fine-tunes did: `python -m lecture_utils.zoo list`). Each uses the
# laptop recipe (PROFILE= to change it), as `zoo train JOB --commit --resume`; at the limit it
# stops as after Ctrl-C, keeping the state of its last finished epoch.
# notebooks: every notebook (or those named) at once, through tools/run_as_script.py, at the
# machine's default profile (LECTURE_PROFILE= to change it); the logs hold their findings.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PY=${PYTHON:-.venv/bin/python}; else PY=${PYTHON:-python3}; fi
PROFILE=${PROFILE:-laptop}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}    # several jobs share the CPU cores too

# Decode CIFAR-10 into the cache once, before the jobs or notebooks start, not once in each of
# them (the cache's writes are atomic, so train and notebooks may both call it at once).
decode_cifar10_once() {
    "$PY" -c "from lecture_utils import data; data.load_cifar10('train'); data.load_cifar10('test')"
}

case "${1:-}" in
prepare)
    src=${LECTURE_DATA:-../shared/data}
    mkdir -p .device/data
    install -m 644 "$src/cifar10-jpeg.tar.gz" .device/data/
    # IPython and ipywidgets (the notebooks import them), at this environment's versions, as
    # wheels for the machine's Python 3.12; the rest of what the course needs is there.
    pins=$("$PY" -m pip freeze | grep -i -E '^(ipython|ipywidgets|traitlets|comm|jedi|parso|'\
'matplotlib-inline|prompt.toolkit|wcwidth|stack.data|asttokens|executing|pure.eval|'\
'ipython.pygments.lexers|widgetsnbextension|jupyterlab.widgets|pexpect|ptyprocess)==')
    # shellcheck disable=SC2086
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        -d .whl $pins
    du -sh .device .whl
    echo 'carry [".device", ".whl"]; there, run train and notebooks in one command, e.g.'
    echo '  tools/gpu_session.sh notebooks 420 & tools/gpu_session.sh train 480; wait'
    ;;
train)
    limit=${2:?"give the seconds the trainings may run, e.g. 480"}
    shift 2
    : "${OUT:?OUT must name the folder whose files come back}"
    export LECTURE_DATA=${LECTURE_DATA:-.device/data} LECTURE_OFFLINE=1
    mark=$(mktemp) && touch "$mark"
    mkdir -p "$OUT/logs"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
    decode_cifar10_once
    if [ $# -eq 0 ]; then
        mapfile -t cmds < <("$PY" -c "from lecture_utils import zoo
for run in zoo.unfinished_trainings() + zoo.retraining_due():
    print(zoo.resume_command(run).removeprefix('python '))")
    else
        cmds=()
        for job in "$@"; do
            name=${job%%:*}
            seeds=""
            [[ $job == *:* ]] && seeds="--seeds ${job#*:}" && seeds=${seeds//,/ }
            cmds+=("-m lecture_utils.zoo train $name --profile $PROFILE $seeds --commit --resume")
        done
    fi
    [ ${#cmds[@]} -gt 0 ] || { echo "nothing to train"; exit 0; }
    pids=()
    for i in "${!cmds[@]}"; do
        echo "job $i: python ${cmds[$i]}"
        # SIGINT: the training stops as after Ctrl-C, keeping the state of its last full epoch.
        # shellcheck disable=SC2086
        timeout -s INT -k 30 "$limit" "$PY" -u ${cmds[$i]} > "$OUT/logs/job$i.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        status=0
        wait "${pids[$i]}" || status=$?
        echo "job $i: exit $status; $(tr '\r' '\n' < "$OUT/logs/job$i.log" | grep -v '^$' |
                                       tail -n 1)"
    done
    "$PY" -m lecture_utils.zoo list
    # What the jobs wrote, with the logs, in parts small enough to come back.
    find data/models -type f -newer "$mark" ! -name '.manifest.lock' -print0 |
        tar --null -czf - -T - -C "$OUT" logs | split -b 15M - "$OUT/models.tgz.part-"
    rm -r "$OUT/logs" "$mark"
    ls -l "$OUT"
    ;;
notebooks)
    limit=${2:?"give the seconds each notebook may run, e.g. 420"}
    shift 2
    : "${OUT:?OUT must name the folder whose files come back}"
    export LECTURE_DATA=${LECTURE_DATA:-.device/data} LECTURE_OFFLINE=1
    if [ -d .whl ]; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    [ $# -gt 0 ] || set -- notebooks/[0-9][0-9]_*.py
    decode_cifar10_once
    status=0
    "$PY" tools/run_as_script.py "$OUT/notebooks" "$@" --limit "$limit" || status=$?
    tar -czf "$OUT/notebooks.tgz" -C "$OUT" notebooks && rm -r "$OUT/notebooks"
    exit $status
    ;;
unpack)
    folder=${2:?"give the folder holding models.tgz.part-* and notebooks.tgz"}
    mkdir -p data/cache/gpu
    if [ -e "$folder/notebooks.tgz" ]; then
        tar -xzf "$folder/notebooks.tgz" -C data/cache/gpu
        echo "notebooks' logs and report.json in data/cache/gpu/notebooks"
    fi
    if compgen -G "$folder/models.tgz.part-*" > /dev/null; then
        cat "$folder"/models.tgz.part-* | tar -xzf - --exclude=logs
        cat "$folder"/models.tgz.part-* | tar -xzf - -C data/cache/gpu logs
        echo "unpacked into data/models (training logs in data/cache/gpu/logs):"
        git status --short data/models
        "$PY" -m lecture_utils.zoo list
        echo "check with: python -m lecture_utils.zoo verify; then commit data/models"
    fi
    ;;
*)
    sed -n '2,18p' "$0"
    exit 2
    ;;
esac
