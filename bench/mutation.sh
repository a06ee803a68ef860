#!/usr/bin/env bash
# Mutation testing of the core modules with mutmut 3 (config: [tool.mutmut] in pyproject.toml).
# Not part of `make test`: it takes tens of minutes on 2 cores. Results and the surviving mutants that were judged
# harmless are in BENCHMARKS.md ("Mutation testing").
#   bash bench/mutation.sh                      # every module in only_mutate
#   bash bench/mutation.sh 'genre.models.split*' # one module (mutmut's name globs)
set -euo pipefail
cd "$(dirname "$0")/.."
export GENRE_SHARED_DATA="${GENRE_SHARED_DATA:-$(cd .. && pwd)/shared/data}"  # the tests run from mutants/
# mutmut forks a test process per mutant and a worker pool inside it hangs: GENRE_MAX_WORKERS=1 caps the library's
# pools (Config.workers) at one process, JOBLIB_MULTIPROCESSING=0 makes joblib calls given n_jobs run serially
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=true TF_CPP_MIN_LOG_LEVEL=3 JOBLIB_MULTIPROCESSING=0 \
    GENRE_MAX_WORKERS=1
start=$(date +%s)
.venv/bin/mutmut run --max-children "${MUTMUT_CHILDREN:-2}" "$@" || true
echo "mutation run took $(( $(date +%s) - start )) s on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
.venv/bin/mutmut results --all true | .venv/bin/python bench/mutation_table.py
echo "surviving mutants (inspect one with: .venv/bin/mutmut show NAME):"
.venv/bin/mutmut results
