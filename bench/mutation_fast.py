"""Mutation testing in one pytest session: each mutant in a fork of it, running only its covering tests, likely
killers first.

mutmut 3 (``bench/mutation.sh``) starts a pytest run per mutant with the covering tests in file order, so a mutant pays
its test modules' fixtures (trained models, decoded clips) before the test that would kill it in milliseconds; on
2 cores that is about 2 mutants a minute for the feature extractor. This script uses mutmut's own mutants and
verdict files and changes only the scheduling:

1. a workspace is made from the working tree, with each module replaced by mutmut's trampolined version of its
   *current* source (so the mutant names are mutmut's; ``mutmut show NAME`` shows the change);
2. pytest collects the selected test files once; a clean pass (no mutant, in a fork) must pass, and records which
   tests call which mutated function and how long each test takes;
3. every mutant runs in its own fork of that process: only the tests that call the mutated function, the test files
   that are fast and killed mutants before first (each file's tests together, so its fixtures are built once),
   stopping at the first failure (killed), or all passing (survived), or the clean time x3 + 60 s passing
   (timeout);
4. verdicts are written into ``mutants/<module>.meta`` as they come, where ``mutmut results`` and
   ``bench/mutation_table.py`` read them.

    .venv/bin/python bench/mutation_fast.py genre/features/extractor.py genre/validation/suites.py
    .venv/bin/python bench/mutation_fast.py genre/metrics/scores.py --tests tests/test_split_gate.py
    .venv/bin/python bench/mutation_fast.py genre/features/extractor.py --rerun survived   # e.g. after adding tests
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KILLED, SURVIVED, TIMEOUT, NO_TESTS = 1, 0, 36, 33  # mutmut's exit codes for its verdicts (mutmut.stats)


def workspace(modules: list[Path]) -> tuple[Path, dict[Path, tuple[list[str], dict[str, str]]]]:
    """A copy of the working tree with ``modules`` trampolined; per module, mutmut's mutant names and function hashes."""
    from mutmut.__main__ import write_all_mutants_to_file

    ws = Path(tempfile.mkdtemp(prefix="genre-mutation-"))
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (ws / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, ws / name)
    mutants = {}
    for module in modules:
        out = io.StringIO()
        mutated = write_all_mutants_to_file(out=out, source=(ROOT / module).read_text(), filename=module)
        (ws / module).write_text(out.getvalue())
        prefix = ".".join(module.with_suffix("").parts)
        mutants[module] = [f"{prefix}.{name}" for name in mutated.mutant_names], dict(mutated.hash_by_function_name)
    return ws, mutants


def function_of(mutant: str) -> str:
    """``genre.x.mod.x_fn__mutmut_3`` -> ``genre.x.mod.x_fn`` (mutmut's mangled function name)."""
    return mutant.partition("__mutmut_")[0]


def run_items(items: list, record: dict | None = None, current: list[str] | None = None) -> str | None:
    """Run pytest items in this process in the given order, fixtures shared as in a pytest run, up to the first
    failing one: its node id (None when all pass)."""
    from _pytest.runner import runtestprotocol

    for i, item in enumerate(items):
        if current is not None:
            current[:] = [item.nodeid]
        start = time.perf_counter()
        reports = runtestprotocol(item, nextitem=items[i + 1] if i + 1 < len(items) else None, log=False)
        if record is not None:
            record["duration"][item.nodeid] = time.perf_counter() - start
        if any(r.failed for r in reports):
            if record is not None:
                record["failed"].append(item.nodeid)
            return item.nodeid
    return None


def clean_pass(items: list, modules: set[str]) -> dict:
    """Every item unmutated, in collection order: durations, and which functions of the modules each test calls."""
    from mutmut.mutation import trampoline

    record: dict = {"duration": {}, "failed": [], "calls": {}}
    current: list[str] = [""]

    def tracking() -> str:  # asked by every trampoline at each call: note its function, run the original
        frame = sys._getframe(1)
        orig, func = frame.f_locals.get("orig_func"), frame.f_locals.get("decorated_func")
        if orig is not None and func is not None and func.__module__ in modules:
            record["calls"].setdefault(current[0], set()).add(f"{func.__module__}.{function_of(orig.__name__)}")
        return ""

    trampoline.get_mutant_under_test = tracking
    run_items(items, record, current)
    record["calls"] = {test: sorted(functions) for test, functions in record["calls"].items()}
    return record


def likely_killers_first(tests: list[str], duration: dict[str, float], kills: dict[str, int]) -> list[str]:
    """Test files by their tests' total time over (1 + the mutants they killed so far), each file's tests together
    (its fixtures are built once), killers first, then by time."""
    time_of: dict[str, float] = {}
    kills_of: dict[str, int] = {}
    for test in tests:
        file = test.split("::")[0]
        time_of[file] = time_of.get(file, 0.0) + duration[test]
        kills_of[file] = kills_of.get(file, 0) + kills.get(test, 0)

    def key(test: str) -> tuple:
        file = test.split("::")[0]
        return time_of[file] / (1 + kills_of[file]), file, -kills.get(test, 0), duration[test]

    return sorted(tests, key=key)


def in_fork(fn, config) -> tuple[int, Path]:
    """Start ``fn`` in a forked child: its pid and the file its JSON result goes to (exit 1 when it returns a test).

    The child's ``tmp_path`` folders go under the result file's name + ``.tmp``, which :func:`reap` removes: a child
    leaves by ``os._exit`` and pytest never cleans them up (thousands of trained models and feature caches)."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            config._tmp_path_factory._basetemp = Path(path + ".tmp")
            Path(path + ".tmp").mkdir()
            result = fn()
            Path(path).write_text(json.dumps(result))
            code = KILLED if isinstance(result, str) else 0
        finally:
            os._exit(code)
    return pid, Path(path)


def reap(path: Path) -> None:
    """Remove a finished child's result file and its tmp_path folders."""
    path.unlink(missing_ok=True)
    shutil.rmtree(f"{path}.tmp", ignore_errors=True)


class Scheduler:
    """The pytest plugin: after collection, the clean pass and the mutants, in forks; pytest's own loop is skipped."""

    def __init__(self, modules: list[Path], mutants: list[str], verdicts: dict, children: int, save) -> None:
        self.modules = {".".join(module.with_suffix("").parts) for module in modules}
        self.mutants, self.verdicts, self.children, self.save = mutants, verdicts, children, save

    def pytest_runtestloop(self, session) -> bool:
        items = {item.nodeid: item for item in session.items}
        order = list(items.values())
        start = time.perf_counter()
        pid, path = in_fork(lambda: clean_pass(order, self.modules), session.config)
        os.waitpid(pid, 0)
        clean = json.loads(path.read_text())
        reap(path)
        if clean["failed"]:
            sys.exit(f"the unmutated tests fail: {clean['failed']}; fix them first")
        print(f"clean pass: {len(items)} tests in {time.perf_counter() - start:.0f} s", flush=True)
        duration = clean["duration"]
        callers: dict[str, list[str]] = {}
        for test, functions in clean["calls"].items():
            for function in functions:
                callers.setdefault(function, []).append(test)
        running: dict[int, tuple[str, Path, float, float]] = {}
        kills: dict[str, int] = {}  # mutants each test killed: it is tried early for the next ones
        todo = list(self.mutants)
        done = 0
        while todo or running:
            while todo and len(running) < self.children:
                name = todo.pop(0)
                tests = likely_killers_first(callers.get(function_of(name), []), duration, kills)
                if not tests:
                    self.verdicts[name] = (NO_TESTS, 0.0)
                    continue

                def mutant(name: str = name, tests: list[str] = tests) -> str | None:
                    os.environ["MUTANT_UNDER_TEST"] = name
                    return run_items([items[t] for t in tests])

                pid, path = in_fork(mutant, session.config)
                running[pid] = (name, path, time.perf_counter(), sum(duration[t] for t in tests) * 3 + 60)
            time.sleep(0.05)
            for pid, (name, path, began, limit) in list(running.items()):
                finished, status = os.waitpid(pid, os.WNOHANG)
                elapsed = time.perf_counter() - began
                if not finished and elapsed < limit:
                    continue
                if not finished:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    code = TIMEOUT
                else:
                    code = SURVIVED if os.waitstatus_to_exitcode(status) == 0 else KILLED
                    if code == KILLED and path.stat().st_size:
                        killer = json.loads(path.read_text())
                        kills[killer] = kills.get(killer, 0) + 1
                del running[pid]
                reap(path)
                self.verdicts[name] = (code, elapsed)
                done += 1
                if done % 20 == 0 or not (todo or running):
                    self.save()
                    print(f"{done} mutants in {time.perf_counter() - start:.0f} s", flush=True)
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", type=Path, nargs="+", help="modules under genre/, as paths ([tool.mutmut] only_mutate)")
    parser.add_argument("--tests", nargs="+", help="test files (default: [tool.mutmut]'s test selection)")
    parser.add_argument("--children", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--rerun", nargs="*", default=["not checked", "timeout"],
                        help="verdicts to check again (default: not checked, timeout; 'all' for every mutant)")
    args = parser.parse_args()
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    tests = args.tests or settings["pytest_add_cli_args_test_selection"]

    from mutmut.stats import status_by_exit_code

    ws, mutants = workspace(args.modules)
    metas: dict[Path, dict] = {}
    todo: list[str] = []
    for module, (names, hashes) in mutants.items():
        path = ROOT / "mutants" / f"{module}.meta"
        meta = json.loads(path.read_text()) if path.exists() else {}
        if meta.get("hash_by_function_name") != hashes:  # the source changed since these verdicts: start afresh
            meta = {"exit_code_by_key": {}, "hash_by_function_name": hashes, "type_check_error_by_key": {},
                    "durations_by_key": {}, "estimated_durations_by_key": {}}
        codes = meta["exit_code_by_key"]
        for name in names:
            codes.setdefault(name, None)
        todo += [n for n in names if "all" in args.rerun or status_by_exit_code[codes[n]] in args.rerun]
        metas[path] = meta
        print(f"{module}: {len(names)} mutants", flush=True)
    print(f"{len(todo)} to check; workspace {ws}", flush=True)
    verdicts: dict[str, tuple[int, float]] = {}

    def save() -> None:
        for path, meta in metas.items():
            for name in meta["exit_code_by_key"]:
                if name in verdicts:
                    meta["exit_code_by_key"][name], meta["durations_by_key"][name] = verdicts[name]
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".meta.tmp")
            tmp.write_text(json.dumps(meta, indent=4))
            tmp.replace(path)

    os.chdir(ws)
    sys.path.insert(0, str(ws))
    os.environ.update(GENRE_SHARED_DATA=os.environ.get("GENRE_SHARED_DATA", str(ROOT.parent / "shared" / "data")),
                      GENRE_MAX_WORKERS="1", JOBLIB_MULTIPROCESSING="0", OPENBLAS_NUM_THREADS="1",
                      OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    import pytest

    start = time.perf_counter()
    pytest.main(["-p", "no:cacheprovider", "-q", *tests],
                plugins=[Scheduler(args.modules, todo, verdicts, args.children, save)])
    save()
    cpu = next(line.split(":")[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    print(f"{time.perf_counter() - start:.0f} s on {cpu}")
    for path, meta in metas.items():
        codes = meta["exit_code_by_key"]
        counts: dict[str, int] = {}
        for code in codes.values():
            counts[status_by_exit_code[code]] = counts.get(status_by_exit_code[code], 0) + 1
        print(f"{path.relative_to(ROOT / 'mutants')}: {counts}")
        print("  surviving:", " ".join(n for n, c in codes.items() if c == SURVIVED) or "none")
    shutil.rmtree(ws, ignore_errors=True)


if __name__ == "__main__":
    main()
