#!/usr/bin/python3
"""Reference values for internal/lda's tests from scikit-learn's online LDA.

Writes internal/lda/testdata/sklearn.json: a tiny corpus, a starting
lambda, the per-document topic proportions scikit-learn's E-step finds
against it (transform) and lambda after one online M-step (partial_fit
with the whole corpus as the batch). Tolerances are tight so that both
E-steps converge to the same fixed point whatever their starting gamma.

Run: /usr/bin/python3 scripts/lda-reference/sklearn_reference.py
"""
import json
import os

import numpy as np
from scipy.special import psi
from sklearn.decomposition import LatentDirichletAllocation

K, V = 3, 8
docs = [  # (index, count) pairs
    [(0, 3), (1, 2), (2, 1)],
    [(3, 4), (4, 1)],
    [(5, 2), (6, 2), (7, 1)],
    [(0, 1), (3, 1), (5, 1), (7, 2)],
    [(1, 5)],
    [(2, 1), (4, 2), (6, 3)],
]
X = np.zeros((len(docs), V))
for d, doc in enumerate(docs):
    for w, c in doc:
        X[d, w] = c
rng = np.random.RandomState(7)
L0 = rng.gamma(100.0, 0.01, (K, V))

params = dict(n_components=K, learning_method="online", learning_offset=10.0,
              learning_decay=0.7, max_doc_update_iter=2000, mean_change_tol=1e-10,
              total_samples=len(docs), batch_size=len(docs), random_state=0)
lda = LatentDirichletAllocation(**params)
lda.partial_fit(X)  # creates the fitted attributes; overwritten below


def set_lambda(m, lam):
    m.components_ = lam.copy()
    m.exp_dirichlet_component_ = np.exp(psi(lam) - psi(lam.sum(axis=1))[:, None])
    m.n_batch_iter_ = 1


set_lambda(lda, L0)
theta = lda.transform(X)
lda.partial_fit(X)
out = {
    "k": K, "v": V, "alpha": 1.0 / K, "eta": 1.0 / K, "tau0": 10.0, "kappa": 0.7,
    "docs": [{"index": [w for w, _ in d], "count": [float(c) for _, c in d]} for d in docs],
    "lambda0": L0.ravel().tolist(),
    "theta": theta.tolist(),
    "lambda1": lda.components_.ravel().tolist(),
}
path = os.path.join(os.path.dirname(__file__), "..", "..", "internal", "lda", "testdata", "sklearn.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
