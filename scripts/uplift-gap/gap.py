#!/usr/bin/env python3
"""Where TestPolicyVsOracle's remaining gap is: learners of another kind.

Reads the histories, true effects and promoflow's cross-fitted effects that
TestDumpGenerated writes (DIR/s7.csv, s8.csv, s9.csv; see README.md) and
prints, per seed and on average, the true value at a 30% budget as a share
of the oracle's for:

  - rl:       an R-learner (Nie and Wager) whose effect model is additive:
              per offer, cubic B-splines (6 knots) of each quantile-
              transformed continuous feature, a missing indicator and the
              one-hot columns, fitted jointly for all offers by ridge on the
              multi-arm R-loss  (Y - m(x) - sum_a (W_a - e_a) tau_a(x))^2
              with m(x) cross-fitted by scikit-learn's gradient boosting;
  - rl-oracle: the same on the features the generator's effect formulas
              use for each offer (an upper bound for feature screening);
  - rl-screen: the same on the features that explain most of promoflow's
              avg effects of the offer (a data-driven screen);
  - stack:    promoflow's learners stacked per offer by non-negative least
              squares on the R-loss;
  - averages of these with promoflow's s, x and cf.

Needs python3-sklearn, python3-pandas, python3-scipy (Debian).
Usage: gap.py DIR
"""
import sys

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.preprocessing import QuantileTransformer, SplineTransformer

ARMS = 4
BUDGET = 0.3
FOLDS = 5
# The features each offer's effect formula reads (internal/synth/history.go),
# in the order of the dump's arm columns.
ORACLE = [
    ["recency_days", "deal_searches", "tenure_days", "main_channel"],  # coupon5
    ["deal_searches", "avg_view_price", "tenure_days", "frequency", "recency_days"],  # discount10
    ["carts", "views", "frequency", "tenure_days", "main_category"],  # free_shipping
    ["frequency", "recency_days", "main_channel", "deal_searches"],  # points2x
]


SEEDS = (7, 8, 9)  # TestPolicyVsOracle's and TestDumpGenerated's


def line(name, v, width):
    """A printed row: one share of the oracle per seed, then their mean."""
    return f"{name:{width}s} {v[0]:.3f} / {v[1]:.3f} / {v[2]:.3f}  mean {np.mean(v):.3f}"


def assign(tau, frac):
    """policy.Assign: the top frac of users by best effect get their best arm."""
    best, arm = tau.max(1), tau.argmax(1)
    order = np.argsort(-best, kind="stable")
    sel = order[: int(np.floor(frac * len(tau) + 1e-9))]
    sel = sel[best[sel] > 0]
    pi = np.full(len(tau), -1)
    pi[sel] = arm[sel]
    return pi


def value(pi, truth):
    m = pi >= 0
    return truth[np.where(m)[0], pi[m]].sum() / len(pi)


def groups(X, feats, knots=6):
    """Standardized basis columns per feature (one-hot columns grouped by prefix)."""
    out = {}
    for i, c in enumerate(feats):
        x = X[:, i].copy()
        miss = np.isnan(x)
        if "=" in c:
            cols = [x[:, None]]
        else:
            x[miss] = np.nanmedian(x)
            q = QuantileTransformer(n_quantiles=200, random_state=0).fit_transform(x[:, None])
            cols = [SplineTransformer(n_knots=knots, degree=3, include_bias=False).fit_transform(q)]
            if miss.any():
                cols.append(miss[:, None].astype(float))
        B = np.hstack(cols)
        sd = B.std(0)
        sd[sd == 0] = 1
        out.setdefault(c.split("=")[0], []).append((B - B.mean(0)) / sd)
    return {g: np.hstack(v) for g, v in out.items()}


def r_learner(Bs, W, R, F, lam):
    """Cross-fitted ridge on the multi-arm R-loss; Bs[a] is offer a's basis."""
    Z = np.hstack([np.hstack([W[:, [a]], W[:, [a]] * Bs[a]]) for a in range(ARMS)])
    off = np.cumsum([0] + [b.shape[1] + 1 for b in Bs])
    tau = np.zeros((len(R), ARMS))
    for k in range(FOLDS):
        tr = F != k
        pen = lam * tr.sum() * np.ones(Z.shape[1])
        pen[off[:-1]] = 1e-6  # offers' mean effects unpenalised
        beta = np.linalg.solve(Z[tr].T @ Z[tr] + np.diag(pen), Z[tr].T @ R[tr])
        for a in range(ARMS):
            tau[F == k, a] = beta[off[a]] + Bs[a][F == k] @ beta[off[a] + 1 : off[a + 1]]
    return tau


def stack(L, names, W, R, F):
    """The learners' effects stacked on the R-loss, jointly for all offers:
    per offer a free mean effect and non-negative weights per learner."""
    cols = []
    for a in range(ARMS):
        cols += [W[:, a], -W[:, a]] + [W[:, a] * L[n][:, a] for n in names]
    Z = np.stack(cols, 1)
    per = 2 + len(names)
    tau = np.zeros((len(R), ARMS))
    for k in range(FOLDS):
        tr, te = F != k, F == k
        b, _ = nnls(Z[tr], R[tr])
        for a in range(ARMS):
            w = b[a * per : (a + 1) * per]
            tau[te, a] = w[0] - w[1] + sum(w[2 + j] * L[n][te, a] for j, n in enumerate(names))
    return tau


def screen(Ball, go, names, pilot, a, share=0.8):
    """Features whose additive components explain share of the pilot's variance."""
    y = pilot[:, a] - pilot[:, a].mean()
    b = np.linalg.solve(Ball.T @ Ball + 1e-3 * len(y) * np.eye(Ball.shape[1]), Ball.T @ y)
    sc = np.array([np.var(Ball[:, go[j] : go[j + 1]] @ b[go[j] : go[j + 1]]) for j in range(len(names))])
    o = np.argsort(-sc)
    c = np.cumsum(sc[o]) / sc.sum()
    return sorted(o[: np.searchsorted(c, share) + 1])


def load(path):
    """A dumped history: its frame, true effects, feature names and columns,
    arms, outcomes, folds, and the cross-fitted outcome m(x) (scikit-learn
    gradient boosting, arm-agnostic)."""
    df = pd.read_csv(path)
    truth = df[[f"truth{a}" for a in range(ARMS)]].to_numpy()
    feats = list(df.columns[: df.columns.get_loc("A")])
    X = df[feats].to_numpy(float)
    A, Y, F = df.A.to_numpy(), df.Y.to_numpy(float), df.fold.to_numpy()
    m = np.zeros(len(Y))
    for k in range(FOLDS):
        tr = F != k
        g = HistGradientBoostingRegressor(max_leaf_nodes=15, min_samples_leaf=100, learning_rate=0.05,
                                          max_iter=500, early_stopping=True, random_state=0)
        m[F == k] = g.fit(X[tr], Y[tr]).predict(X[F == k])
    return df, truth, feats, X, A, Y, F, m


def seed_run(path):
    df, truth, feats, X, A, Y, F, m = load(path)
    e = np.array([(A == a).mean() for a in range(1, ARMS + 1)])
    W = np.stack([(A == a + 1) - e[a] for a in range(ARMS)], 1)
    R = Y - m
    L = {n: df[[f"{n}{a}" for a in range(ARMS)]].to_numpy() for n in ["s", "x", "cf", "t", "r", "dr", "avg"]}
    G = groups(X, feats)
    names = list(G)
    Ball = np.hstack([G[g] for g in names])
    go = np.cumsum([0] + [G[g].shape[1] for g in names])
    pick = lambda sel: np.hstack([Ball[:, go[j] : go[j + 1]] for j in sel])
    out = {}
    for lam in [0.01, 0.03, 0.1, 0.3]:
        out[f"rl lam {lam}"] = r_learner([Ball] * ARMS, W, R, F, lam)
        out[f"rl-oracle lam {lam}"] = r_learner(
            [pick([names.index(f) for f in ORACLE[a]]) for a in range(ARMS)], W, R, F, lam)
        out[f"rl-screen lam {lam}"] = r_learner(
            [pick(screen(Ball, go, names, L["avg"], a)) for a in range(ARMS)], W, R, F, lam)
    for n in list(out):
        out[f"s+cf+{n}"] = (L["s"] + L["cf"] + out[n]) / 3
        out[f"s+x+cf+{n}"] = (L["s"] + L["x"] + L["cf"] + out[n]) / 4
    out["avg (promoflow)"] = L["avg"]
    out["stack s,x,cf"] = stack(L, ["s", "x", "cf"], W, R, F)
    out["stack all six"] = stack(L, ["s", "x", "cf", "t", "r", "dr"], W, R, F)
    oracle = value(assign(truth, BUDGET), truth)
    return {n: value(assign(t, BUDGET), truth) / oracle for n, t in out.items()}


def main():
    d = sys.argv[1]
    per = [seed_run(f"{d}/s{s}.csv") for s in SEEDS]
    for n in per[0]:
        print(line(n, [p[n] for p in per], 32))


if __name__ == "__main__":
    main()
