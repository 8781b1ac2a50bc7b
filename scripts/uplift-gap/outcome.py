#!/usr/bin/env python3
"""Writes DIR/m<seed>.txt: each row's cross-fitted outcome m(x) (gap.load's
scikit-learn gradient boosting), for internal/additive's TestGapHistories.
Usage: outcome.py DIR
"""
import sys

import numpy as np

from gap import SEEDS, load

for s in SEEDS:
    m = load(f"{sys.argv[1]}/s{s}.csv")[-1]
    np.savetxt(f"{sys.argv[1]}/m{s}.txt", m)
