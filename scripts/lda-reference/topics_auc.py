#!/usr/bin/python3
"""Do LDA topics help? Propensity AUC and segment quality with and without
per-user topic proportions (docs/FEATURES.md, "Topics").

    /usr/bin/python3 scripts/lda-reference/topics_auc.py retail ../shared/data/online-retail/online_retail.csv.gz \
        --cutoff 2011-09-10 --horizon-days 90
    /usr/bin/python3 scripts/lda-reference/topics_auc.py canon events.csv.gz --horizon-days 28

Users: everyone with an event before the cutoff; label: a purchase in
[cutoff, cutoff + horizon). Documents, as promoflow's interests count them
(internal/interest): the words and adjacent word pairs of each event's text
and category, weighted view 1, search 2, cart 2, purchase 3 (Online Retail:
purchase lines only), vocabulary of terms in at least 3 and at most 80% of
documents, bounded to the 2,000 most frequent (promoflow's TopicTerms).
Topics: scikit-learn's online LDA (the algorithm of internal/lda, which
matches it step for step; its random start differs), 3 passes.

Feature sets, each scored by HistGradientBoostingClassifier AUC over the same
5 stratified folds (mean and standard deviation):
  behaviour         recency, frequency, monetary, lines, items, tenure, AOV, events
  + tfidf16         a 16-dimensional TruncatedSVD of the TF-IDF (the role of
                    promoflow's interest projection)
  + theta           topic proportions
Segment quality: k-means (k = 6, standardised features) on behaviour with and
without theta: the silhouette on the behaviour features, and the AUC of the
segments' buy rate (out of fold) as a score: how much the segments separate
buyers.
Prints the topics' top words and one JSON line of figures.
"""
import argparse
import json
import re

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import LatentDirichletAllocation, TruncatedSVD
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.metrics import roc_auc_score, silhouette_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

ap = argparse.ArgumentParser()
ap.add_argument('format', choices=['retail', 'canon'])
ap.add_argument('path')
ap.add_argument('--cutoff', help='default: horizon-days before the last event')
ap.add_argument('--horizon-days', type=int, default=28)
ap.add_argument('--k', type=int, nargs='*', default=[5, 10, 20], help='topic counts to try')
ap.add_argument('--seed', type=int, default=0)
args = ap.parse_args()

WEIGHTS = {'view': 1.0, 'search': 2.0, 'cart': 2.0, 'purchase': 3.0}
if args.format == 'retail':
    df = pd.read_csv(args.path, dtype={'CustomerID': str, 'InvoiceNo': str, 'StockCode': str})
    df = df[df.CustomerID.notna()]
    df['ts'] = pd.to_datetime(df.InvoiceDate)
    cancel = df.InvoiceNo.str.startswith('C')
    df['type'] = np.where(cancel, 'return', 'purchase')
    ev = pd.DataFrame({'user': df.CustomerID, 'ts': df.ts, 'type': df['type'], 'item': df.StockCode,
                       'text': df.Description.fillna(''), 'category': '', 'qty': df.Quantity.abs(),
                       'price': df.UnitPrice, 'order': df.InvoiceNo})
else:
    df = pd.read_csv(args.path, dtype={'user_id': str, 'order_id': str, 'item_id': str})
    df['ts'] = pd.to_datetime(df.ts, utc=True).dt.tz_localize(None)
    ev = pd.DataFrame({'user': df.user_id, 'ts': df.ts, 'type': df['type'], 'item': df.item_id,
                       'text': df.text.fillna(''), 'category': df.category.fillna(''),
                       'qty': df.quantity.abs().clip(lower=1), 'price': df.price, 'order': df.order_id})
cutoff = pd.Timestamp(args.cutoff) if args.cutoff else ev.ts.max() - pd.Timedelta(days=args.horizon_days)
horizon = cutoff + pd.Timedelta(days=args.horizon_days)
before = ev[ev.ts < cutoff]
after = ev[(ev.ts >= cutoff) & (ev.ts < horizon)]
users = np.array(sorted(before.user.unique()))
y = np.isin(users, after[after.type == 'purchase'].user.unique()).astype(int)

# Behaviour features as of the cutoff.
b = before.copy()
b['value'] = np.where(b.type == 'purchase', b.qty * b.price.clip(lower=0), 0.0)
buys = b[b.type == 'purchase']
g = b.groupby('user')
feat = pd.DataFrame(index=users)
feat['recency'] = (cutoff - g.ts.max()).dt.days
feat['tenure'] = (cutoff - g.ts.min()).dt.days
feat['events'] = g.size()
gb = buys.groupby('user')
feat['frequency'] = gb.order.nunique()
feat['monetary'] = gb.value.sum()
feat['lines'] = gb.size()
feat['items'] = gb.item.nunique()
feat = feat.fillna(0)
feat['aov'] = feat.monetary / feat.frequency.clip(lower=1)
X_beh = np.log1p(feat.clip(lower=0).values.astype(float))

# Documents: weighted words and pairs of the events' texts and categories.
tok = re.compile(r'[a-z0-9]+')


def terms(s):
    w = tok.findall(s.lower())
    return w + [a + ' ' + c for a, c in zip(w, w[1:])]


b['w'] = b.type.map(WEIGHTS).fillna(0.0)
b = b[b.w > 0]
docs = {u: {} for u in users}
for u, text, cat, w in zip(b.user.values, b.text.values, b.category.values, b.w.values):
    d = docs[u]
    for t in terms(text) + terms(cat):
        d[t] = d.get(t, 0.0) + w
vec = CountVectorizer(analyzer=lambda d: list(d.keys()), min_df=3, max_df=0.8)
vec.fit([docs[u] for u in users])
# Keep the 2,000 terms of highest document frequency, then count weights.
dfreq = np.asarray((vec.transform([docs[u] for u in users]) > 0).sum(axis=0)).ravel()
keep = sorted(np.argsort(-dfreq, kind='stable')[:2000])
vocab = np.array(vec.get_feature_names_out())[keep]
index = {t: i for i, t in enumerate(vocab)}
rows, cols, vals = [], [], []
for r, u in enumerate(users):
    for t, w in docs[u].items():
        if t in index:
            rows.append(r)
            cols.append(index[t])
            vals.append(w)
from scipy.sparse import csr_matrix  # noqa: E402
C = csr_matrix((vals, (rows, cols)), shape=(len(users), len(vocab)))
tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(C)
X_tfidf = TruncatedSVD(16, random_state=args.seed).fit_transform(tfidf)

folds = list(StratifiedKFold(5, shuffle=True, random_state=args.seed).split(X_beh, y))


def cv_auc(X):
    aucs = []
    for tr, te in folds:
        m = HistGradientBoostingClassifier(random_state=args.seed).fit(X[tr], y[tr])
        aucs.append(roc_auc_score(y[te], m.predict_proba(X[te])[:, 1]))
    return round(float(np.mean(aucs)), 4), round(float(np.std(aucs)), 4)


def segments(X):
    Z = StandardScaler().fit_transform(X)
    lab = KMeans(6, n_init=4, random_state=args.seed).fit_predict(Z)
    sil = silhouette_score(StandardScaler().fit_transform(X_beh), lab, sample_size=min(5000, len(y)), random_state=args.seed)
    score = np.zeros(len(y))
    for tr, te in folds:
        rate = {s: y[tr][lab[tr] == s].mean() if (lab[tr] == s).any() else y[tr].mean() for s in range(6)}
        score[te] = [rate[s] for s in lab[te]]
    return round(float(sil), 4), round(float(roc_auc_score(y, score)), 4)


out = {'data': args.format, 'users': int(len(users)), 'positives': int(y.sum()), 'cutoff': str(cutoff.date()),
       'horizon_days': args.horizon_days, 'vocabulary': int(len(vocab)), 'empty_docs': int((C.sum(axis=1) == 0).sum()),
       'auc': {'behaviour': cv_auc(X_beh), 'behaviour+tfidf16': cv_auc(np.hstack([X_beh, X_tfidf]))},
       'segments': {'behaviour': segments(X_beh)}}
for k in args.k:
    lda = LatentDirichletAllocation(k, learning_method='online', max_iter=3, batch_size=max(128, len(users) // 2),
                                    total_samples=len(users), random_state=args.seed).fit(C)
    theta = lda.transform(C)
    print(f'k={k} topics (top words):')
    for j, comp in enumerate(lda.components_):
        top = np.argsort(-comp, kind='stable')[:8]
        print(f'  {j}: ' + ', '.join(vocab[top]))
    out['auc'][f'behaviour+theta{k}'] = cv_auc(np.hstack([X_beh, theta]))
    out['auc'][f'behaviour+tfidf16+theta{k}'] = cv_auc(np.hstack([X_beh, X_tfidf, theta]))
    out['segments'][f'behaviour+theta{k}'] = segments(np.hstack([X_beh, theta]))
print(json.dumps(out))
