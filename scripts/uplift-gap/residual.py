#!/usr/bin/env python3
"""Boosting on the sparse additive learner's residuals, on TestDumpGenerated's
histories: per outer fold, grouplasso's joint fit (6 knots, one standard
error), then per offer and pass a scikit-learn gradient boosting of the
R-loss residual over (W_a - e_a), weighted (W_a - e_a)^2, early stopping,
added to the offer's effect. Prints the true value at 30% as a share of
the oracle's after 0, 1 and 2 passes. Usage: residual.py DIR
"""
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

import grouplasso as gl
from gap import ARMS, BUDGET, FOLDS, SEEDS, assign, groups, line, load, value


def seed_run(path, passes=2):
    df, truth, feats, X, A, Y, F, m = load(path)
    R = Y - m
    G = groups(X, feats, 6)
    names = list(G)
    B = np.hstack([G[g] for g in names])
    go = np.cumsum([0] + [G[g].shape[1] for g in names])
    p = B.shape[1] + 1
    W, Z, gidx = gl.joint_design(A, B, go)
    out = {f"{q} passes": np.zeros((len(Y), ARMS)) for q in range(passes + 1)}
    for k in range(FOLDS):
        br = gl.cv_fit(Z, R, F, np.ones(len(Y), bool), gidx, k, 0.01)["1se"]
        t = np.stack([br[a * p] + B @ br[a * p + 1:(a + 1) * p] for a in range(ARMS)], 1)
        te, tr = F == k, F != k
        out["0 passes"][te] = t[te]
        for q in range(1, passes + 1):
            for a in range(ARMS):
                res = R - (W * t).sum(1)
                g = HistGradientBoostingRegressor(max_leaf_nodes=15, min_samples_leaf=200, learning_rate=0.05,
                                                  max_iter=300, early_stopping=True, validation_fraction=0.2,
                                                  n_iter_no_change=20, random_state=k)
                g.fit(X[tr], res[tr] / W[tr, a], sample_weight=W[tr, a] ** 2)
                t[:, a] += g.predict(X)
            out[f"{q} passes"][te] = t[te]
    oracle = value(assign(truth, BUDGET), truth)
    return {n: value(assign(t, BUDGET), truth) / oracle for n, t in out.items()}


def main():
    per = [seed_run(f"{sys.argv[1]}/s{s}.csv") for s in SEEDS]
    for n in per[0]:
        print(line(n, [p[n] for p in per], 10))


if __name__ == "__main__":
    main()
