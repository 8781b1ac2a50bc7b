#!/usr/bin/env python3
"""Smoothing the learners: each learner's cross-fitted effects projected onto
additive functions of the features, on TestDumpGenerated's histories.

Per seed and on average, the true value at a 30% budget as a share of the
oracle's for: each learner as dumped; its projection (least squares, per
fold, on that fold's rows, of its effects on gap.groups' basis at 6 knots:
every feature, no selection; the labels are not read, so fitting on the
held-out rows is honest); the projection fitted on all rows at once (which
mixes the five folds' models, so a row's smoothed effect also draws on
models that saw its outcome: optimistic, printed to show it); averages of
the smoothed learners; w * sam + (1 - w) * the projection of the mean of
s, x and cf (the avg learner when w = 0.5); and half sam, half that mean
not projected. The dump must come from a version of promoflow before the
smoothed avg (its avg column is then the plain mean of s, x, cf and sam).
Usage: smooth.py DIR
"""
import sys

import numpy as np
import pandas as pd

from gap import ARMS, BUDGET, FOLDS, SEEDS, assign, groups, line, value

NAMES = ["t", "s", "x", "r", "dr", "cf", "sam"]


def main():
    out = {}
    add = lambda n, v: out.setdefault(n, []).append(v)
    for seed in SEEDS:
        df = pd.read_csv(f"{sys.argv[1]}/s{seed}.csv")
        truth = df[[f"truth{a}" for a in range(ARMS)]].to_numpy()
        feats = list(df.columns[: df.columns.get_loc("A")])
        X, F = df[feats].to_numpy(float), df.fold.to_numpy()
        L = {n: df[[f"{n}{a}" for a in range(ARMS)]].to_numpy() for n in NAMES}
        oracle = value(assign(truth, BUDGET), truth)
        share = lambda t: value(assign(t, BUDGET), truth) / oracle
        G = groups(X, feats, 6)
        B = np.hstack([np.ones((len(X), 1))] + [G[g] for g in G])
        solve = lambda r: np.linalg.solve(B[r].T @ B[r] + 1e-3 * np.eye(B.shape[1]), B[r].T)
        P = [solve(F == k) for k in range(FOLDS)]
        whole = solve(np.ones(len(X), bool))

        def smooth(t):
            o = np.zeros_like(t)
            for k in range(FOLDS):
                r = F == k
                o[r] = B[r] @ (P[k] @ t[r])
            return o

        S = {n: smooth(L[n]) for n in NAMES}
        for n in NAMES:
            add(n, share(L[n]))
            add(f"{n} smoothed", share(S[n]))
        plain = sum(L[n] for n in ("s", "x", "cf", "sam")) / 4
        add("mean of s, x, cf, sam (avg before)", share(plain))
        add("the same smoothed", share(smooth(plain)))
        add("the same smoothed on all rows at once (optimistic)", share(B @ (whole @ plain)))
        trees = smooth((L["s"] + L["x"] + L["cf"]) / 3)
        for w in (0.25, 0.4, 0.5, 0.6, 0.75):
            add(f"{w} sam + {1 - w} smoothed mean of s, x, cf", share(w * L["sam"] + (1 - w) * trees))
        plain3 = (L["s"] + L["x"] + L["cf"]) / 3
        add("0.5 sam + 0.5 mean of s, x, cf (not smoothed)", share(0.5 * L["sam"] + 0.5 * plain3))
        five = smooth((L["s"] + L["x"] + L["cf"] + L["t"] + L["r"]) / 5)
        add("0.5 sam + 0.5 smoothed mean of s, x, cf, t, r", share(0.5 * L["sam"] + 0.5 * five))
    for n, v in out.items():
        print(line(n, v, 52))


if __name__ == "__main__":
    main()
