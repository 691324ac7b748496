"""The approximate-Newton regime table of the benchmarks chapter, measured on its own (it takes tens of minutes on the
2-core development CPU, too long for the chapter's run): writes benchmarks/approx-newton-regime-<device>-<dtype>.{json,txt},
which the chapter reads. Usage: python scripts/bench_regime.py [--ns 256,512,1024,2048] [--time-limit 180] [--device cpu]"""
import argparse, json, os, platform, sys, time
from pathlib import Path
import torch
from attn_unmask.bench import bench_approx_newton_regime, format_regime

p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--ns', default='256,512,1024,2048')
p.add_argument('--d', type=int, default=8)
p.add_argument('--time-limit', type=float, default=180.)
p.add_argument('--dense-limit', type=int, default=8192)
p.add_argument('--device', default='cpu')
p.add_argument('--out', default=str(Path(__file__).resolve().parents[1] / 'benchmarks'))
a = p.parse_args()
load = lambda: [round(x, 2) for x in os.getloadavg()]
meta = dict(started=time.strftime('%Y-%m-%d %H:%M:%S'), load_before=load(), machine=platform.node(), cpu_count=os.cpu_count(),
            torch_threads=torch.get_num_threads(), torch=torch.__version__, device=a.device, dtype='float64')
reg = bench_approx_newton_regime(d=a.d, ns=tuple(int(n) for n in a.ns.split(',')), time_limit=a.time_limit,
                                 dense_limit=a.dense_limit, device=a.device,
                                 say=lambda s: print(f"[{time.strftime('%H:%M:%S')}] {s} (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True))
meta['load_after'] = load()
reg['meta'] = meta
stem = Path(a.out) / f"approx-newton-regime-{torch.device(a.device).type}-float64"
stem.with_suffix('.json').write_text(json.dumps(reg, indent=1) + '\n')
text = f"load before/after: {meta['load_before']} / {meta['load_after']} ({meta['cpu_count']} CPUs, {meta['torch_threads']} torch threads)\n" + format_regime(reg)
stem.with_suffix('.txt').write_text(text + '\n')
print(text)
