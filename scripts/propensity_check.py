#!/usr/bin/env python3
"""Propensity AUC: promoflow against scikit-learn on the same rows.

    python3 scripts/propensity_check.py DIR [--no-rf] [--no-hgb]

DIR is what `go run ./scripts/propensity-check --run-dir RUN --out DIR` wrote
from a finished run: the training rows promoflow's Train stage used (features
from the events before the cutoff, label = bought in the label window), in
shard order, and which of them promoflow held out (x.f64, y.f64, hold.u8,
meta.json), plus RUN's held-out scores, which it reads from
DIR/../holdout_scores.csv when --scores is not given. Same users, same
features, same labels, same held-out users: scikit-learn's models are fit on
the rows promoflow trained on and scored on the rows it held out.

Prints one JSON line: promoflow's held-out AUC recomputed from its scores,
RandomForestClassifier (100 trees, min_samples_leaf 5, n_jobs 2, seed 0) and
HistGradientBoostingClassifier (defaults: early stopping on 10% of the rows
above 10,000 rows, seed 0), with their fit seconds.
"""
import argparse
import csv
import json
import os
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import roc_auc_score

ap = argparse.ArgumentParser()
ap.add_argument('dir')
ap.add_argument('--scores', help="the run's holdout_scores.csv")
ap.add_argument('--no-rf', action='store_true')
ap.add_argument('--no-hgb', action='store_true')
args = ap.parse_args()

meta = json.load(open(os.path.join(args.dir, 'meta.json')))
n, d = meta['rows'], len(meta['features'])
X = np.fromfile(os.path.join(args.dir, 'x.f64'), dtype='<f8').reshape(n, d)
y = np.fromfile(os.path.join(args.dir, 'y.f64'), dtype='<f8').astype(int)
hold = np.fromfile(os.path.join(args.dir, 'hold.u8'), dtype=np.uint8).astype(bool)
out = {'rows': n, 'train_rows': int((~hold).sum()), 'n_holdout': int(hold.sum()),
       'positives_holdout': int(y[hold].sum())}

scores = args.scores or os.path.join(args.dir, 'holdout_scores.csv')
if os.path.exists(scores):
    s, l = [], []
    with open(scores) as f:
        for row in csv.DictReader(f):
            s.append(float(row['score']))
            l.append(int(row['label']))
    if len(s) != out['n_holdout']:
        raise SystemExit(f'{scores}: {len(s)} scores, {out["n_holdout"]} held-out rows')
    out['promoflow_auc'] = round(roc_auc_score(l, s), 4)

Xt, yt, Xh, yh = X[~hold], y[~hold], X[hold], y[hold]
if not args.no_rf:
    # scikit-learn's forest does not take NaN in every version: the
    # features promoflow writes have none, but be explicit.
    Xr, Xrh = np.nan_to_num(Xt, nan=-1.0), np.nan_to_num(Xh, nan=-1.0)
    t = time.time()
    rf = RandomForestClassifier(n_estimators=100, min_samples_leaf=5, n_jobs=2, random_state=0).fit(Xr, yt)
    out['rf_seconds'] = round(time.time() - t, 1)
    out['rf_auc'] = round(roc_auc_score(yh, rf.predict_proba(Xrh)[:, 1]), 4)
    del rf
if not args.no_hgb:
    t = time.time()
    hgb = HistGradientBoostingClassifier(random_state=0).fit(Xt, yt)
    out['hgb_seconds'] = round(time.time() - t, 1)
    out['hgb_auc'] = round(roc_auc_score(yh, hgb.predict_proba(Xh)[:, 1]), 4)
    out['hgb_iterations'] = int(hgb.n_iter_)
print(json.dumps(out))
