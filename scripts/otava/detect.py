"""Apache Otava's change points for series given as JSON: runs inside the Otava environment (build-venv.sh).

stdin:  {"options": {"window_len": 30, "max_pvalue": 0.001, "min_magnitude": 0.0}, "series": {"name": [v, ...]}}
stdout: {"name": [{"index": i, "pvalue": p, "change": after / before - 1}, ...]}

Otava's detector (Fleming et al., "Hunter", ICPE 2023): e-divisive split over sliding windows with a t-test,
then a merge step; `otava.analysis.compute_change_points` is the function its `analyze` command uses.
"""

import json
import sys

from otava.analysis import compute_change_points


def main() -> None:
    request = json.load(sys.stdin)
    options = request.get("options", {})
    out = {}
    for name, values in request["series"].items():
        points, _ = compute_change_points(values, window_len=options.get("window_len", 30),
                                          max_pvalue=options.get("max_pvalue", 0.001),
                                          min_magnitude=options.get("min_magnitude", 0.0))
        out[name] = [{"index": int(cp.index), "pvalue": float(cp.stats.pvalue),
                      "change": float(cp.stats.forward_rel_change())} for cp in points]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
