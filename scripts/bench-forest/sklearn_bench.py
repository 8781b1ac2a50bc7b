#!/usr/bin/env python3
"""Train scikit-learn's RandomForestClassifier on the matrix bench-forest
wrote and print the training wall time and held-out AUC as JSON.

    /usr/bin/python3 scripts/bench-forest/sklearn_bench.py /tmp/bench-forest

Needs the Debian packages python3-sklearn (and numpy, which it pulls in).
The settings come from meta.json, so both sides train the same forest:
n_estimators, max_depth, min_samples_leaf, max_features='sqrt',
bootstrap=True, n_jobs.
"""
import json
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-forest"
    meta = json.load(open(os.path.join(d, "meta.json")))
    f = meta["features"]
    x = np.fromfile(os.path.join(d, "x.f64"), dtype="<f8").reshape(-1, f)
    y = np.fromfile(os.path.join(d, "y.f64"), dtype="<f8")
    xt = np.fromfile(os.path.join(d, "xt.f64"), dtype="<f8").reshape(-1, f)
    yt = np.fromfile(os.path.join(d, "yt.f64"), dtype="<f8")
    rf = RandomForestClassifier(
        n_estimators=meta["trees"], max_depth=meta["max_depth"],
        min_samples_leaf=meta["min_samples_leaf"], max_features="sqrt",
        bootstrap=True, n_jobs=meta["n_jobs"], random_state=0)
    start = time.perf_counter()
    rf.fit(x, y)
    train = time.perf_counter() - start
    start = time.perf_counter()
    scores = rf.predict_proba(xt)[:, 1]
    predict = time.perf_counter() - start
    print(json.dumps({
        "impl": "sklearn RandomForestClassifier " + sklearn.__version__,
        "rows": len(y), "holdout": len(yt), "features": f, "trees": meta["trees"],
        "max_depth": meta["max_depth"], "min_samples_leaf": meta["min_samples_leaf"],
        "n_jobs": meta["n_jobs"], "train_seconds": round(train, 4),
        "predict_seconds": round(predict, 4),
        "holdout_auc": round(float(roc_auc_score(yt, scores)), 4),
    }))


if __name__ == "__main__":
    main()
