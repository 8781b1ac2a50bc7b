#!/usr/bin/python3
"""Writes the scikit-learn DBSCAN reference labels internal/dbscan tests
compare with: one CSV per data set, x0..x{d-1},label, and a header line
"# eps=E min_samples=M". Run from this folder: /usr/bin/python3 reference.py"""
import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.datasets import make_blobs, make_moons

rng = np.random.default_rng(16)


def write(name, X, eps, m):
    X = np.round(X, 5)  # small files; the labels are those of the rounded points
    labels = DBSCAN(eps=eps, min_samples=m).fit_predict(X)
    with open(name + ".csv", "w") as f:
        f.write(f"# eps={eps!r} min_samples={m}\n")
        for x, l in zip(X, labels):
            f.write(",".join(repr(float(v)) for v in x) + f",{l}\n")
    print(name, len(X), "points", labels.max() + 1, "clusters", int((labels == -1).sum()), "noise")


X, _ = make_moons(n_samples=400, noise=0.07, random_state=1)
write("moons", X, 0.12, 5)

X, _ = make_blobs(n_samples=600, centers=4, cluster_std=0.6, random_state=2)
noise = rng.uniform(X.min(0) - 2, X.max(0) + 2, size=(60, 2))
write("blobs_noise", np.vstack([X, noise]), 0.5, 6)

# The segment features' shape: 14 standardized dimensions, 3 dense groups
# and scattered far points, at minPts = 2*dim.
X, _ = make_blobs(n_samples=1500, n_features=14, centers=3, cluster_std=0.5, random_state=3)
far = rng.normal(0, 6, size=(40, 14))
write("blobs14", np.vstack([X, far]), 2.2, 28)
