"""Reference statistics for Waymark's before-and-after tests, from SciPy and statsmodels.

Reads a JSON list of cases on stdin; each is {"kind": "proportions", "x1", "n1", "x2", "n2"}, {"kind": "rates", "x1", "t1", "x2", "t2"} or
{"kind": "times" | "scores", "before": [...], "after": [...]}. Writes, per case, the statistic,
the two-sided p-value and (where the method defines one) the 95% interval of after - before.
"""
import json
import sys

from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.rates import confint_poisson_2indep, test_poisson_2indep

out = []
for case in json.load(sys.stdin):
    kind = case["kind"]
    if kind == "proportions":
        x1, n1, x2, n2 = case["x1"], case["n1"], case["x2"], case["n2"]
        z, p = proportions_ztest([x2, x1], [n2, n1])
        low, high = confint_proportions_2indep(x2, n2, x1, n1, method="wald", compare="diff")
        out.append({"statistic": float(z), "p": float(p), "low": float(low), "high": float(high)})
    elif kind == "rates":
        x1, t1, x2, t2 = case["x1"], case["t1"], case["x2"], case["t2"]
        result = test_poisson_2indep(x2, t2, x1, t1, method="wald", compare="diff")
        low, high = confint_poisson_2indep(x2, t2, x1, t1, method="wald", compare="diff")
        out.append({"statistic": float(result.statistic), "p": float(result.pvalue), "low": float(low), "high": float(high)})
    elif kind == "times":
        # U of the second sample given, as Waymark reports U of the `after` sample.
        result = stats.mannwhitneyu(case["after"], case["before"], method="asymptotic", use_continuity=True)
        out.append({"statistic": float(result.statistic), "p": float(result.pvalue)})
    else:
        result = stats.ttest_ind(case["after"], case["before"], equal_var=False)
        ci = result.confidence_interval(0.95)
        out.append({"statistic": float(result.statistic), "p": float(result.pvalue), "low": float(ci.low), "high": float(ci.high)})
json.dump(out, sys.stdout)
