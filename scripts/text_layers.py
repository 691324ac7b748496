"""The text attack on every layer of a model, sentence by sentence, in a pool of worker processes (one torch thread each):
    python scripts/text_layers.py --sentences benchmarks/text-sentences.txt --layers 0-5 --workers 16 --out results.jsonl
One JSON line per (sentence, layer) as it finishes: tokens right, exact, status, attention error, seconds, sweeps, how many readings
the search began, the tokens each of its whole-vocabulary group and position moves changed, how many kicks it made, how many readings it left
as creeping, and its history (phase, tokens changed, attention error, seconds). It resumes: pairs already in --out are skipped.
--misses-of EARLIER.jsonl runs only the pairs that EARLIER did not read exactly (e.g. again with a larger --max-seconds: the
search is deterministic and its budget only stops it, so a pair read exactly within the smaller budget is read the same way within
the larger one). --pick LAYER:PREFIX (repeatable) runs only the sentences starting with PREFIX at LAYER, e.g. to check that claim
on a few hits. --kicks and --creep set recover_text's kicks and creep (to measure a run with or without them). --known K gives the
search the sentence's first K tokens after the special ones (recover_text's known: an attacker who knows how the text begins). The text chapter
(nbs/15_text.ipynb) summarises the file. --model: a Hugging Face model directory or all-MiniLM-L6-v2 (the offline package)."""
import argparse, json, os, sys, time
from concurrent.futures import ProcessPoolExecutor, as_completed

_STATE = {}

def _init(model_path, layers, shortlist):
    import torch
    torch.set_num_threads(1)
    from attn_unmask.models import load_model
    from attn_unmask.text import prepare_text
    _STATE['model'] = load_model(model_path)
    prepare_text(*_STATE['model'], layers, shortlist=shortlist)   # the per-model tables, so that each job's time is its search alone

def _job(sentence, layer, max_seconds, shortlist='path', look_back=0, kicks=2, creep=False, known=0):
    from attn_unmask.models import attention_maps
    from attn_unmask.text import recover_text, special_tokens
    model, tok = _STATE['model']
    ids = tok(sentence).input_ids
    start = len(special_tokens(tok)[0])
    r = recover_text(model, tok, attention_maps(model, ids, layer=layer), layer=layer, max_seconds=max_seconds, shortlist=shortlist,
                     look_back=look_back, kicks=kicks, creep=creep, known={p: ids[p] for p in range(start, start + known)} or None)
    return dict(sentence=sentence, layer=layer, n=len(ids), right=sum(a == b for a, b in zip(r.token_ids, ids)),
                exact=r.token_ids == ids, look_back=look_back, creep=creep, known=known, status=r.status, attention_error=r.attention_error, seconds=r.seconds,
                sweeps=r.sweeps, method=r.method, text=r.text, token_ids=r.token_ids, readings=sum(h['phase'] == 'read' for h in r.history),
                vocabulary_moves=[h['changed'] for h in r.history if h['phase'] == 'group vocabulary'],
                position_vocabulary_moves=[h['changed'] for h in r.history if h['phase'] == 'position vocabulary'],
                kicks=sum(h['phase'] == 'kick' for h in r.history), creeps=sum(h['phase'] == 'creep' for h in r.history),
                trace=[[h['phase'], h['changed'], round(h['attention_error'], 4), round(h['time'], 1)] for h in r.history])

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sentences', required=True, nargs='+', help='one or more files, a sentence per line'); p.add_argument('--out', required=True)
    p.add_argument('--layers', default='0-5'); p.add_argument('--workers', type=int, default=os.cpu_count())
    p.add_argument('--model', default='all-MiniLM-L6-v2'); p.add_argument('--max-seconds', type=float, default=120.)
    p.add_argument('--misses-of', help="a results file: run only its (sentence, layer) pairs that were not exact")
    p.add_argument('--pick', action='append', help="LAYER:PREFIX: run only the sentences that start with PREFIX, at LAYER")
    p.add_argument('--shortlist', default='path', choices=('path', 'proxy'), help="the deep layers' shortlist (recover_text's shortlist)")
    p.add_argument('--look-back', type=int, default=0, help="recover_text's look_back (earlier positions read again in a reading)")
    p.add_argument('--kicks', type=int, default=2, help="recover_text's kicks (kicks a reading may make at a stall)")
    p.add_argument('--creep', action='store_true', help="recover_text's creep=True (a creeping reading is left for the next)")
    p.add_argument('--known', type=int, default=0, help="the first K tokens after the special ones are given (recover_text's known)")
    a = p.parse_args(argv)
    lo, _, hi = a.layers.partition('-'); layers = list(range(int(lo), int(hi or lo) + 1))
    sentences = list(dict.fromkeys(s.strip() for f in a.sentences for s in open(f) if s.strip()))
    done = set()
    if os.path.exists(a.out):
        for line in open(a.out): r = json.loads(line); done.add((r['sentence'], r['layer']))
    if a.misses_of:
        misses = {(r['sentence'], r['layer']) for r in map(json.loads, open(a.misses_of)) if not r['exact']}
        sentences = [s for s in sentences if any((s, l) in misses for l in layers)]
    picks = [(int(l), prefix) for l, _, prefix in (x.partition(':') for x in a.pick or ())]
    jobs = [(s, l) for l in sorted(layers, reverse=True) for s in sentences
            if (s, l) not in done and (not a.misses_of or (s, l) in misses)
            and (not picks or any(l == pl and s.startswith(prefix) for pl, prefix in picks))]   # slow (deep) jobs first
    print(f"{len(jobs)} jobs ({len(done)} already done), {a.workers} workers, cpu count {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    t0 = time.time()
    with ProcessPoolExecutor(a.workers, initializer=_init, initargs=(a.model, layers, a.shortlist)) as pool, open(a.out, 'a') as out:
        futs = [pool.submit(_job, s, l, a.max_seconds, a.shortlist, a.look_back, a.kicks, a.creep, a.known) for s, l in jobs]
        for f in as_completed(futs):
            r = f.result(); out.write(json.dumps(r) + '\n'); out.flush()
            print(f"[{time.time() - t0:6.0f} s] layer {r['layer']} {r['right']}/{r['n']} {r['status']} {r['seconds']:.0f} s", flush=True)
    return 0

if __name__ == '__main__': sys.exit(main())
