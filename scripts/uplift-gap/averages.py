#!/usr/bin/env python3
"""Ways to combine promoflow's learners, on TestDumpGenerated's histories.

Prints, per seed and on average, the true value at a 30% budget as a share
of the oracle's for every equal-weight average of a subset of the learners
(the best 10), for averages of avg's members weighted by each one's
precision (1 / its mean squared distance from their mean), the true mean
squared error of the effects, and the held-out R-loss of sam and avg
(y - m(x) - sum_a (W_a - e_a) tau_a(x), m from gap.load). Usage:
averages.py DIR
"""
import itertools
import sys

import numpy as np

from gap import ARMS, BUDGET, SEEDS, assign, line, load, value

LEARNERS = ["t", "s", "x", "r", "dr", "cf", "sam"]
MEMBERS = ["s", "x", "cf", "sam"]  # uplift.Averaged


def main():
    subsets, prec = {}, {}
    for s in SEEDS:
        df, truth, feats, X, A, Y, F, m = load(f"{sys.argv[1]}/s{s}.csv")
        L = {n: df[[f"{n}{a}" for a in range(ARMS)]].to_numpy() for n in LEARNERS + ["avg"]}
        oracle = value(assign(truth, BUDGET), truth)
        share = lambda t: value(assign(t, BUDGET), truth) / oracle
        for r in range(1, len(LEARNERS) + 1):
            for c in itertools.combinations(LEARNERS, r):
                subsets.setdefault("+".join(c), []).append(share(sum(L[n] for n in c) / len(c)))
        bar = sum(L[n] for n in MEMBERS) / len(MEMBERS)
        w = {n: 1 / np.sqrt(((L[n] - bar) ** 2).mean()) for n in MEMBERS}
        prec.setdefault("precision-weighted", []).append(share(sum(w[n] * L[n] for n in MEMBERS) / sum(w.values())))
        prec.setdefault("equal (avg)", []).append(share(bar))
        mse = {n: ((L[n] - truth) ** 2).mean() * 1e4 for n in MEMBERS + ["avg"]}
        print(f"seed {s}: true MSE of the effects x1e4", {n: round(v, 2) for n, v in mse.items()})
        e = np.array([(A == a).mean() for a in range(1, ARMS + 1)])
        W = np.stack([(A == a + 1) - e[a] for a in range(ARMS)], 1)
        R = Y - m
        d = (R - (W * L["sam"]).sum(1)) ** 2 - (R - (W * L["avg"]).sum(1)) ** 2
        print(f"seed {s}: R-loss of sam less avg's x1e4 {d.mean() * 1e4:+.3f} (se {d.std() / np.sqrt(len(d)) * 1e4:.3f})")
    for name, v in sorted(subsets.items(), key=lambda kv: -np.mean(kv[1]))[:10] + list(prec.items()):
        print(line(name, v, 24))


if __name__ == "__main__":
    main()
