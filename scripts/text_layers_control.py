"""Is a sentence read exactly within a small budget read the same way within a larger one? Runs the given (layer, sentence
prefix) pairs of an earlier scripts/text_layers.py results file again with a larger budget, same protocol (one torch thread per
job), and writes one JSON line per pair comparing sweeps and text (the text chapter reads the file; the fields say _120
for the earlier run and _300 for this one, the budgets it was written for):
    python scripts/text_layers_control.py --earlier RESULTS.jsonl --pick "3:Mr. Obi Chuk" --pick "4:Lock the doo" --max-seconds 300
"""
import argparse, json, os, sys
from concurrent.futures import ProcessPoolExecutor
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import text_layers

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--earlier', required=True, action='append', help='results file(s) of scripts/text_layers.py')
    p.add_argument('--pick', required=True, action='append', help="LAYER:PREFIX, a sentence of the earlier file by its start")
    p.add_argument('--max-seconds', type=float, default=300.); p.add_argument('--workers', type=int, default=2)
    p.add_argument('--model', default='all-MiniLM-L6-v2')
    a = p.parse_args(argv)
    rows = {(r['sentence'], r['layer']): r for f in a.earlier for r in map(json.loads, open(f))}
    picks = [(int(l), prefix) for l, _, prefix in (x.partition(':') for x in a.pick)]
    pairs = [(s, l) for l, prefix in picks for (s, ll) in rows if ll == l and s.startswith(prefix)]
    if len(pairs) != len(picks): p.error(f"each --pick must name exactly one earlier pair; found {pairs}")
    layers = sorted({l for _, l in pairs})
    with ProcessPoolExecutor(a.workers, initializer=text_layers._init, initargs=(a.model, layers, 'path')) as pool:
        for (s, l), f in [((s, l), pool.submit(text_layers._job, s, l, a.max_seconds)) for s, l in pairs]:
            r, old = f.result(), rows[(s, l)]
            print(json.dumps(dict(layer=l, sentence=s, sweeps_120=old['sweeps'], sweeps_300=r['sweeps'], exact_120=old['exact'],
                                  exact_300=r['exact'], text_same=r['text'] == old['text'], seconds_120=round(old['seconds'], 1),
                                  seconds_300=round(r['seconds'], 1))), flush=True)
    return 0

if __name__ == '__main__': sys.exit(main())
