#!/usr/bin/env python3
"""Activity timeline of a run from the histories make bench-compare saves.

Usage: scripts/history_timeline.py .promoflow/bench-compare/compare-300000-1w-history
reads <prefix>.json and, when present, <prefix>-segment.json and <prefix>-train.json
(temporal workflow show --output json) and prints, per activity type, how many ran, when
the first started and the last ended (seconds from the run's start) and their summed time.
"""
import json,sys
from datetime import datetime
from collections import defaultdict
def load(f):
    h=json.load(open(f)); ev=h['events']
    def t(e): return datetime.fromisoformat(e['eventTime'].replace('Z','+00:00')[:26]+'+00:00')
    sched={};started={};rows=[]
    for e in ev:
        a=e.get('activityTaskScheduledEventAttributes')
        if a: sched[e['eventId']]=(a['activityType']['name'],t(e))
        s=e.get('activityTaskStartedEventAttributes')
        if s: started[s['scheduledEventId']]=t(e)
        c=e.get('activityTaskCompletedEventAttributes')
        if c:
            name,ts=sched[c['scheduledEventId']]
            st=started.get(c['scheduledEventId'],ts)
            rows.append((name,st,t(e)))
    return t(ev[0]),t(ev[-1]),rows
base=sys.argv[1]
t0,t1,rows=load(base+'.json')
allrows=list(rows)
for suf in ['-segment','-train']:
    try:
        a,b,r=load(base+suf+'.json'); allrows+=r
    except Exception as ex: pass
g=defaultdict(list)
for r in allrows: g[r[0]].append(r)
print('total %.1f'%(t1-t0).total_seconds())
for name,r in sorted(g.items(), key=lambda kv: min(x[1] for x in kv[1])):
    print('%-22s n=%3d start %5.1f end %5.1f busy %5.1f'%(name,len(r),(min(x[1] for x in r)-t0).total_seconds(),(max(x[2] for x in r)-t0).total_seconds(),sum((x[2]-x[1]).total_seconds() for x in r)))
