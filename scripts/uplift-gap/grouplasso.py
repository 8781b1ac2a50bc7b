#!/usr/bin/env python3
"""The sparse additive R-learner in Python: the reference for internal/additive.

Reads TestDumpGenerated's histories (DIR/s7.csv, s8.csv, s9.csv) and prints
the true value at a 30% budget as a share of the oracle's of the group-lasso
additive effects (penalty by inner cross-validated R-loss, "min" or "1se",
then a ridge refit), fitted with all offers in one R-loss ("joint") or per
offer against control ("pair"), alone and averaged with promoflow's s and
cf. Usage: grouplasso.py DIR [knots] [ridge]
"""
import sys

import numpy as np

from gap import ARMS, BUDGET, FOLDS, SEEDS, assign, groups, line, load, value

PATH = [0.5, 0.35, 0.25, 0.18, 0.12, 0.08, 0.05]


def glasso(G, b, n, gidx, lam, iters=500):
    """Block coordinate descent; gidx: (columns, penalised) per block."""
    beta = np.zeros(G.shape[0])
    L = [np.linalg.eigvalsh(G[np.ix_(c, c)] / n).max() for c, _ in gidx]
    for _ in range(iters):
        maxd = 0
        for (c, pen), l in zip(gidx, L):
            z = beta[c] - (G[c] @ beta - b[c]) / n / l
            if pen:
                nz = np.linalg.norm(z)
                t = lam * np.sqrt(len(c)) / l
                z = z * max(0, 1 - t / nz) if nz > 0 else z
            maxd = max(maxd, np.abs(z - beta[c]).max())
            beta[c] = z
        if maxd < 1e-8:
            break
    return beta


def relaxed(G, b, n, gidx, beta, ridge):
    cols = sorted(sum([c for c, p in gidx if not p or np.linalg.norm(beta[c]) > 0], []))
    free = set(sum([c for c, p in gidx if not p], []))
    pen = np.array([0.0 if c in free else ridge * n for c in cols]) + 1e-9
    out = np.zeros(G.shape[0])
    out[cols] = np.linalg.solve(G[np.ix_(cols, cols)] + np.diag(pen), b[cols])
    return out


def lam_max(G, b, n, gidx):
    free = sorted(sum([c for c, p in gidx if not p], []))
    beta = np.zeros(G.shape[0])
    beta[free] = np.linalg.solve(G[np.ix_(free, free)] + 1e-9 * np.eye(len(free)), b[free])
    g = (G @ beta - b) / n
    return max(np.linalg.norm(g[c]) / np.sqrt(len(c)) for c, p in gidx if p)


def cv_fit(Z, R, F, rows, gidx, k, ridge):
    """Fit on rows outside fold k, penalty by CV over the other folds."""
    tr = np.where((F != k) & rows)[0]
    stat = lambda r: (Z[r].T @ Z[r], Z[r].T @ R[r], len(r))
    G, b, n = stat(tr)
    lams = [f * lam_max(G, b, n, gidx) for f in PATH]
    inner = [j for j in range(FOLDS) if j != k]
    loss = np.zeros((len(lams), len(inner)))
    for q, j in enumerate(inner):
        Gi, bi, ni = stat(np.where((F != k) & (F != j) & rows)[0])
        te = np.where((F == j) & rows)[0]
        for li, lam in enumerate(lams):
            br = relaxed(Gi, bi, ni, gidx, glasso(Gi, bi, ni, gidx, lam), ridge)
            loss[li, q] = np.mean((R[te] - Z[te] @ br) ** 2)
    mean = loss.mean(1)
    best = mean.argmin()
    dse = (loss - loss[best]).std(1) / np.sqrt(len(inner))
    pick = {"min": best, "1se": min(l for l in range(len(lams)) if mean[l] <= mean[best] + dse[l])}
    return {r: relaxed(G, b, n, gidx, glasso(G, b, n, gidx, lams[l]), ridge) for r, l in pick.items()}


def joint_design(A, B, go):
    """The joint R-loss's design: W (arm indicators less their shares),
    Z (per offer, W_a and W_a times the basis B, whose feature groups
    start at the offsets go) and its groups (offer intercepts free)."""
    p = B.shape[1] + 1
    e = np.array([(A == a).mean() for a in range(1, ARMS + 1)])
    W = np.stack([(A == a + 1) - e[a] for a in range(ARMS)], 1)
    Z = np.hstack([np.hstack([W[:, [a]], W[:, [a]] * B]) for a in range(ARMS)])
    gidx = []
    for a in range(ARMS):
        gidx.append(([a * p], False))
        gidx += [(list(range(a * p + 1 + go[j], a * p + 1 + go[j + 1])), True) for j in range(len(go) - 1)]
    return W, Z, gidx


def seed_run(path, knots, ridge):
    df, truth, feats, X, A, Y, F, m = load(path)
    R = Y - m
    G = groups(X, feats, knots)
    names = list(G)
    B = np.hstack([G[g] for g in names])
    go = np.cumsum([0] + [G[g].shape[1] for g in names])
    p = B.shape[1] + 1
    L = {n: df[[f"{n}{a}" for a in range(ARMS)]].to_numpy() for n in ["s", "cf"]}
    out = {}
    # joint: all offers in one R-loss
    W, Z, gidx = joint_design(A, B, go)
    tau = {r: np.zeros((len(Y), ARMS)) for r in ["min", "1se"]}
    for k in range(FOLDS):
        for r, br in cv_fit(Z, R, F, np.ones(len(Y), bool), gidx, k, ridge).items():
            te = F == k
            tau[r][te] = np.stack([br[a * p] + B[te] @ br[a * p + 1 : (a + 1) * p] for a in range(ARMS)], 1)
    for r, t in tau.items():
        out[f"joint {r}"] = t
    # pair: each offer against control alone
    gidx1 = [([0], False)] + [(list(range(1 + go[j], 1 + go[j + 1])), True) for j in range(len(names))]
    t = np.zeros((len(Y), ARMS))
    for a in range(ARMS):
        rows = (A == a + 1) | (A == 0)
        pe = (A == a + 1).sum() / rows.sum()
        w = np.where(A == a + 1, 1 - pe, -pe)
        Za = np.hstack([w[:, None], w[:, None] * B])
        for k in range(FOLDS):
            br = cv_fit(Za, R, F, rows, gidx1, k, ridge)["1se"]
            t[F == k, a] = br[0] + B[F == k] @ br[1:]
    out["pair 1se"] = t
    for n in list(out):
        out[f"s+cf+{n}"] = (L["s"] + L["cf"] + out[n]) / 3
    oracle = value(assign(truth, BUDGET), truth)
    return {n: value(assign(t, BUDGET), truth) / oracle for n, t in out.items()}


def main():
    d = sys.argv[1]
    knots = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    ridge = float(sys.argv[3]) if len(sys.argv) > 3 else 0.01
    per = [seed_run(f"{d}/s{s}.csv", knots, ridge) for s in SEEDS]
    for n in per[0]:
        print(line(n, [p[n] for p in per], 20))


if __name__ == "__main__":
    main()
