"""Subprocess fuzz of the core and of the command line with hostile inputs.

The cases run in a child process (see ``tests/fuzz_cases.py``), so a segfault or a hang
fails this test with the seed of the case instead of killing pytest. A longer profile::

    NKS_FUZZ_CASES=5000 xvfb-run -a python -m pytest tests/core/test_fuzz.py -q   (as in docs/limits.md)

``NKS_FUZZ_SEED`` picks another set of cases; ``python tests/fuzz_cases.py --case SEED -v``
replays one.
"""

import os

from fuzz_cases import DEFAULT_SEED, run_fuzz


def test_hostile_inputs_end_in_a_valid_result_or_a_helpful_error():
    n = int(os.environ.get("NKS_FUZZ_CASES", "300"))
    seed = int(os.environ.get("NKS_FUZZ_SEED", DEFAULT_SEED))
    res = run_fuzz(n, seed, timeout=max(600.0, 0.5 * n))
    lines = []
    for case, kind, how, err in res["crashes"]:
        lines.append(
            f"case {case} [{kind}] {how}; replay: python tests/fuzz_cases.py --case {case} -v\n{err[-600:]}"
        )
    for case, why in res["failures"]:
        lines.append(f"case {case}: {why}")
    assert not lines, (
        f"{len(res['crashes'])} crashed/hung, {len(res['failures'])} broke an invariant "
        f"(of {n} cases, base seed {seed}):\n" + "\n".join(lines)
    )
    assert res["ok"] + res["refused"] == n
    # The generator must mostly produce inputs that run, not only refusals.
    assert res["ok"] > n // 3


def test_hostile_files_stores_and_model_names_end_in_a_clean_run_or_one_line():
    """The command line on damaged OME-Zarr stores (metadata, array metadata, cut chunks),
    models whose names are formulas, control characters or too long, and files named like
    formulas, options or with line breaks: exit 0/1/2 without a traceback, every message on
    its own line, nothing written when refused, no live formula in any CSV, no temporary or
    lock file left. ``NKS_CLI_FUZZ_CASES`` runs more; ``python tests/fuzz_cases.py --cli
    --case SEED -v`` replays one."""
    n = int(os.environ.get("NKS_CLI_FUZZ_CASES", "80"))
    seed = int(os.environ.get("NKS_FUZZ_SEED", DEFAULT_SEED))
    res = run_fuzz(n, seed, timeout=max(600.0, 2.0 * n), cli=True)
    lines = [f"case {case} [{kind}] {how}\n{err[-600:]}" for case, kind, how, err in res["crashes"]]
    lines += [f"case {case}: {why}" for case, why in res["failures"]]
    assert not lines, "\n".join(lines)
    assert res["ok"] + res["refused"] == n
    assert res["ok"] > n // 5  # many cases must run to the end, not only be refused
