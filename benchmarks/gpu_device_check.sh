#!/usr/bin/env bash
# The gpu backend on a machine with a CUDA device, in one call: install, the gpu-marked tests,
# and benchmarks/gpu.py at full sizes. Results go to $OUT (the device machine's result folder),
# else to benchmarks/out/device/:
#   environment.txt   GPU, driver, nvcc, Python and CuPy as found
#   setup.log         what was installed, and the CPU library's build
#   tests.log         pytest's report of tests/zkp/test_gpu_backend.py (and the host tests)
#   gpu.json          the benchmark, written row by row (a timeout keeps the rows done)
#   bench.log         its table
#
#   bash benchmarks/gpu_device_check.sh          on the GPU machine, from the repository root
#   bash benchmarks/gpu_device_check.sh wheels   beforehand, on a machine with PyPI, when the
#                                                GPU machine has none (the lent ones have none)
#
# `wheels` downloads into .whl/ (git-ignored; name it in the device tool's `carry`) the wheels
# the zkp code needs beyond what a CUDA image has (numpy, click, rich, pytest, CuPy): py_ecc,
# wasmtime, eth-hash. Without PyPI and without .whl the tests that need py_ecc cannot run.
#
# Settings (environment): PYTHON (default python3: on the lent machines the one with CuPy),
# CIRCUITS (whole proofs; default random20,chain20,block_large: the last two need circom, which
# needs node: without it their rows say so), BENCH_ARGS (more `provernet zkp bench` options),
# TEST_TIMEOUT and BENCH_TIMEOUT (seconds; the device tool allows 600 for the whole call).

set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
DEVICE_PYTHON_VERSION=${DEVICE_PYTHON_VERSION:-3.12}
OFFLINE_PACKAGES=("py-ecc==8.0.0" "wasmtime==50.0.1" "eth-hash[pycryptodome]")

if [[ "${1:-}" == wheels ]]; then
    # Binary wheels for the GPU machine's Python, whatever this machine runs.
    exec "$PYTHON" -m pip download --only-binary=:all: --implementation cp \
        --python-version "$DEVICE_PYTHON_VERSION" --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
        -d "$WHEELS" "${OFFLINE_PACKAGES[@]}"
fi

OUT=${OUT:-benchmarks/out/device}
mkdir -p "$OUT"
CIRCUITS=${CIRCUITS:-random20,chain20,block_large}
TEST_TIMEOUT=${TEST_TIMEOUT:-200}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}
status=0

step() { echo "== $* ($(date +%T))"; }

step "environment"
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
    nvcc --version 2>&1 | tail -1
    "$PYTHON" -c 'import sys; print("python", sys.version)'
    "$PYTHON" -c 'import cupy; print("cupy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(), "devices", cupy.cuda.runtime.getDeviceCount())' 2>&1
} > "$OUT/environment.txt"
cat "$OUT/environment.txt"

step "install"
# Into a folder on PYTHONPATH, not into an environment: the lent machines' python3 is a venv of
# the image's, whose CuPy (built for its CUDA), numpy and pytest must stay as they are; a nested
# venv would not see them. pyproject's own `pip install '.[gpu]'` fits a machine with PyPI and
# CUDA 12; these have neither.
SITE=${SITE:-/tmp/provernet-site}
mkdir -p "$SITE"
export PYTHONPATH="$PWD:$SITE"
{
    install() {
        if [[ -d "$WHEELS" ]]; then
            "$PYTHON" -m pip install --quiet --target "$SITE" --no-index --find-links "$WHEELS" "$@"
        else
            "$PYTHON" -m pip install --quiet --target "$SITE" --timeout 10 --retries 0 "$@"
        fi
    }
    missing=()
    for module in py_ecc wasmtime eth_hash; do
        "$PYTHON" -c "import $module" 2>/dev/null || missing+=("$module")
    done
    if ((${#missing[@]})); then
        echo "installing ${OFFLINE_PACKAGES[*]} (missing: ${missing[*]})"
        install "${OFFLINE_PACKAGES[@]}" ||
            echo "could not install them: no PyPI here, and $WHEELS from 'benchmarks/gpu_device_check.sh wheels'?"
    fi
    if ! "$PYTHON" -c 'import cupy' 2>/dev/null; then
        gpu_extra=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["gpu"][0])')
        echo "installing $gpu_extra"
        install "$gpu_extra" || echo "could not install $gpu_extra"
    fi
    # The native CPU library, as pyproject's ext-modules builds it, for this Python; a copied
    # tree has none (it is git-ignored), a developer's checkout keeps its own.
    library="zkp/_bn254$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
    if [[ ! -e "$library" ]]; then
        g++ -O3 -fopenmp -std=c++17 -shared -fPIC zkp/native/bn254.cpp zkp/native/kernels_portable.cpp \
            zkp/native/kernels_adx.cpp -o "$library" && echo "built $library"
    fi
} > "$OUT/setup.log" 2>&1
cat "$OUT/setup.log"

step "tests"
tests=(tests/zkp/test_gpu_backend.py tests/zkp/test_gpu_host.py)
pytest_args=()
if ! "$PYTHON" -c 'import market_contracts.chain' 2>/dev/null; then
    # The shared conftest needs the whole project's dependencies (web3, the chain).
    pytest_args+=(--noconftest)
fi
if [[ ${#pytest_args[@]} -gt 0 || ! -x node_modules/.bin/snarkjs ]] || ! command -v node >/dev/null; then
    # Real circuits need the conftest's circom and snarkjs, which need node and node_modules.
    pytest_args+=(-k "not snarkjs and not real_circuit")
fi
timeout "$TEST_TIMEOUT" "$PYTHON" -m pytest -q -rs "${pytest_args[@]}" "${tests[@]}" > "$OUT/tests.log" 2>&1 ||
    status=1
tail -40 "$OUT/tests.log"

step "benchmark"
# shellcheck disable=SC2086  # BENCH_ARGS is a list of options
OUT="$OUT" timeout "$BENCH_TIMEOUT" "$PYTHON" benchmarks/gpu.py --runs 2 --circuits "$CIRCUITS" ${BENCH_ARGS:-} \
    > "$OUT/bench.log" 2>&1 || status=1
cat "$OUT/bench.log"

step "done: results in $OUT"
exit $status
