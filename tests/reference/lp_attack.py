"""The linear-programming attack on published perturbed counts, solved by HiGHS.

Input (JSON on stdin): {"lo": [...], "hi": [...], "eqs": [[total, [parts...]], ...],
"reals": [[lo, hi], ...], "rows": [[[[index, coef], ...], lo, hi], ...], "targets": [...]}. Every variable is a true count the attacker does not know, bounded by
what its published value allows (lo..hi, from the perturbation table: |noise| <= D, zero
stays zero, no published value in 1..js); every equation says that a total is the sum
of its parts (parents and children, years and months, grid cells and their quarters).
"reals" are further unknowns (true weighted sums), numbered after the counts, and "rows"
any further linear relation (a sum is its parts; a sum lies between the smallest and
largest weight times its count). For each target variable the attacker minimises and maximises it over everything that
holds together: the LP relaxation of the integer problem, so its bounds are rounded
inwards (an integer true count lies in ceil(min)..floor(max)).

Output (JSON, written to the file named by the only argument; HiGHS prints its banner on
stdout): {"bounds": [{"lo", "hi", "pinned"}, ...]} aligned with "targets". To save solves,
a few objectives over many targets come first: two feasible points that put a target on
different integers prove it is not pinned, and it is then not solved on its own ("lo" and
"hi" null); a target still open is minimised and maximised.
"""

import json
import math
import sys

import highspy
import numpy as np


def main():
    spec = json.load(sys.stdin)
    lo = np.asarray(spec["lo"], dtype=float)
    hi = np.asarray(spec["hi"], dtype=float)
    hi[hi >= 1e9] = highspy.kHighsInf
    reals = spec.get("reals", [])
    lo = np.concatenate([lo, np.asarray([r[0] for r in reals], dtype=float)])
    hi = np.concatenate([hi, np.asarray([r[1] if r[1] is not None else highspy.kHighsInf for r in reals], dtype=float)])
    n = len(lo)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")  # warm starts between objectives are faster
    h.setOptionValue("simplex_strategy", 4)  # primal simplex: the fastest here, measured
    h.addCols(n, np.zeros(n), lo, hi, 0, np.array([], dtype=np.int32), np.array([], dtype=np.int32), np.array([], dtype=float))
    # total - sum(parts) = 0
    starts, index, value = [], [], []
    for total, parts in spec["eqs"]:
        starts.append(len(index))
        index.append(total)
        value.append(1.0)
        for p in parts:
            index.append(p)
            value.append(-1.0)
    m = len(spec["eqs"])
    if m:
        h.addRows(
            m,
            np.zeros(m),
            np.zeros(m),
            len(index),
            np.asarray(starts, dtype=np.int32),
            np.asarray(index, dtype=np.int32),
            np.asarray(value, dtype=float),
        )
    for terms, row_lo, row_hi in spec.get("rows", []):
        h.addRow(
            -highspy.kHighsInf if row_lo is None else row_lo,
            highspy.kHighsInf if row_hi is None else row_hi,
            len(terms),
            np.asarray([t[0] for t in terms], dtype=np.int32),
            np.asarray([t[1] for t in terms], dtype=float),
        )
    targets = list(spec["targets"])
    tidx = np.asarray(targets, dtype=np.int64)
    seen_lo = np.full(len(targets), np.inf)
    seen_hi = np.full(len(targets), -np.inf)

    def solve(cost_index, cost_value):
        """Minimise the given objective; record where the targets lie in the solution."""
        nonlocal seen_lo, seen_hi
        h.changeColsCost(len(cost_index), np.asarray(cost_index, dtype=np.int32), np.asarray(cost_value, dtype=float))
        h.run()
        status = h.getModelStatus()
        h.changeColsCost(len(cost_index), np.asarray(cost_index, dtype=np.int32), np.zeros(len(cost_index)))
        if status == highspy.HighsModelStatus.kUnbounded:
            return None
        if status != highspy.HighsModelStatus.kOptimal:
            raise SystemExit(f"HiGHS: {h.modelStatusToString(status)}")
        x = np.asarray(h.getSolution().col_value)[tidx]
        seen_lo = np.minimum(seen_lo, x)
        seen_hi = np.maximum(seen_hi, x)
        return h.getInfo().objective_function_value

    def settled(k):
        """Two feasible points already put target k on two different integers."""
        return bool(np.isfinite(seen_lo[k]) and math.floor(seen_hi[k] + 1e-6) > math.ceil(seen_lo[k] - 1e-6))

    # Vertices first, each with an objective over the targets not yet settled: all up,
    # all down, then random directions. Two feasible points that put a target on two
    # different integers prove it is not pinned; most targets settle in a few solves.
    rng = np.random.default_rng(1)
    for round_ in range(24):
        open_ = [k for k in range(len(targets)) if not settled(k)]
        if not open_:
            break
        direction = 1.0 if round_ == 0 else -1.0 if round_ == 1 else None
        signs = np.full(len(open_), direction) if direction is not None else rng.choice([-1.0, 1.0], size=len(open_))
        solve([targets[k] for k in open_], signs)
        if len(open_) < 50:
            break
    result = []
    for k, t in enumerate(targets):
        low = high = None
        if not settled(k):
            v = solve([t], [1.0])
            low = None if v is None else math.ceil(v - 1e-6)
        if not settled(k):
            v = solve([t], [-1.0])
            high = None if v is None else math.floor(-v + 1e-6)
        pinned = not settled(k) and low is not None and high is not None and low == high
        result.append({"lo": low, "hi": high, "pinned": pinned})
    with open(sys.argv[1], "w") as out:
        json.dump({"bounds": result}, out)


if __name__ == "__main__":
    main()
