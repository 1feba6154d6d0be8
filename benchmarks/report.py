#!/usr/bin/python3
"""Writes benchmarks/RESULTS.md and benchmarks/charts/*.png from benchmarks/results.json (written by suite.py).
Only numbers from that file appear: every ratio compares two workloads measured in the same run."""
import json, os, statistics

HERE = os.path.dirname(os.path.abspath(__file__))
data = json.load(open(os.path.join(HERE, "results.json")))
# rss: each workload's largest peak RSS of its own process; tree: of its process tree (suite.py's TreeMemory).
m, r, rss, tree = data["machine"], data["results"], data["rss"], data["tree"]
workloads = {w["name"]: w for w in data["workloads"]}
lines = []
out = lines.append


def med(name):
    """The median of a result, None when it was not measured."""
    return r[name]["median"] if name in r else None


def ratio(a, b):
    """a / b as (median, min, max) over the rounds in which both ran (suite.py interleaves a group's workloads, so
    a round's two runs met the same machine speed); the ratio of the medians, with no range, for workloads of
    different groups. None when either was not measured."""
    if med(a) is None or not med(b):
        return None
    va, vb = r[a].get("values", []), r[b].get("values", [])
    if workloads[r[a]["workload"]]["group"] == workloads[r[b]["workload"]]["group"] and 0 < len(va) == len(vb):
        paired = [x / y for x, y in zip(va, vb)]
        return statistics.median(paired), min(paired), max(paired)
    return med(a) / med(b), None, None


out("# Benchmarks: ResNet18 on this CPU, side by side with the references")
out("")
out("Written by `benchmarks/run.sh` (see [README.md](README.md)); every number below comes from that one run, "
    f"started {m['started']}. Median of {max([v['runs'] for v in r.values()] or [0])} timed runs after one warm-up run, min–max in brackets; "
    "each run is its own process, so its peak RSS is its own; the process tree's peak adds what its child processes "
    "held (PyTorch's DataLoader workers), each shared page counted once (PSS, sampled every 0.2 s in the warm-up run only: sampling slows the command it watches). The workloads compared with each other ran interleaved, "
    "round by round, and a ratio is the median of the rounds' ratios, min–max in brackets (this machine's speed "
    "drifts by up to 20 % within minutes, and a round's runs meet the same speed).")
out("")
out("## Machine")
out("")
flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["flags"].items())
cpu = m['cpu'] + (f" ({m['cpu_id']})" if m.get("cpu_id") else "")
out(f"- CPU: {cpu}, {m['cores']} cores visible, {m['memory']} memory; {m['os']}")
out(f"- ISA: {flags}")
out(f"- .NET SDK {m['dotnet']}; TorchSharp {m['TorchSharp']}; ONNX Runtime {m['Microsoft.ML.OnnxRuntime']}; ML.NET {m['Microsoft.ML']}; "
    f"DnnImageFeaturizer.ResNet18 {m['Microsoft.ML.DnnImageFeaturizer.ResNet18']}; PyTorch/torchvision {m['pytorch']} (Debian)")
out(f"- Load average at start {' / '.join(m['load_start'])}, at end {' / '.join(m['load_end'])} (1/5/15 min): "
    "above ~0.5 at the start, something else was running and absolute numbers suffer; ratios less so.")
out("")
if data["unavailable"]:
    out("**Unavailable in this run** (the rows are missing below):")
    out("")
    for name, why in data["unavailable"]:
        out(f"- `{name}`: {why}")
    out("")

out("## Results")
out("")
def mib(value):
    return f"{value:.0f} MiB" if value else "not measured"


# The machine's peak is the best GEMM any library reached in this run (ONNX Runtime's MLAS or PyTorch's oneDNN): the
# best run, not the median, since a ceiling is what the CPU can do, and on a VM whose speed drifts the median of the
# GEMM runs fell below the network's own rate (2026-12-06: 298 against the network's 307 GFLOP/s).
def best(name):
    return r[name]["max"] if name in r else None
peak32 = max([v for v in (best("gemm_fp32"), best("gemm_fp32_ort")) if v] or [0]) or None
peak8 = max([v for v in (best("gemm_int8"), best("gemm_int8_ort")) if v] or [0]) or None
out("| workload | median | min–max | peak RSS (process) | peak of the process tree (PSS) | achieved GFLOP/s | of this CPU's measured GEMM peak |")
out("| --- | --- | --- | --- | --- | --- | --- |")
for name, v in r.items():
    if name.startswith("profile_"):
        continue
    w = workloads.get(v["workload"], {})
    label = w.get("label", name) if name == v["workload"] else name
    gflops, share = "", ""
    if w.get("gflop") and v["unit"] == "img/s":
        g = v["median"] * w["gflop"]
        peak = peak8 if "int8" in name else peak32
        gflops = f"{g:.1f}"
        share = f"{100 * g / peak:.0f} % of the {'int8' if 'int8' in name else 'fp32'} peak" if peak else ""
    out(f"| {label} | {v['median']:.2f} {v['unit']} | {v['min']:.2f}–{v['max']:.2f} | {mib(rss.get(v['workload']))} | {mib(tree.get(v['workload']))} | {gflops} | {share} |")
out("")
out("Operation counts: ResNet18's convolutions and classifier, 2 operations per multiply-add "
    "(3.64 GFLOP per 224² image; 0.075 at 32² with the 7×7 stem); a training step counts 3 forward passes. "
    "The peak is the best 1024³ GEMM of this run on the same 2 threads: `benchmarks/peak/gemm_peak.py` (PyTorch: oneDNN fp32; "
    "quantized u8·s8 linear) and `MLNetFeaturizer --mode gemm` (ONNX Runtime: MatMul fp32; MatMulInteger u8·s8→s32). "
    "A GEMM of this size is not the CPU's theoretical peak (FMA units × clock), but a ceiling a library reaches in practice; "
    "convolutions with large channel counts can come close to it, the 7×7 stem and the small late feature maps cannot.")
out("")

out("## Targets (issue 13), ratios from this run")
out("")
targets = [
    ("ML.NET featurizer fp32 vs DnnFeaturizeImage", ratio("featurizer_ours", "featurizer_dnn"), 1.6),
    ("ML.NET featurizer fp32 vs PyTorch eager + PIL", ratio("featurizer_ours", "featurizer_pytorch_pil"), 1.5),
    ("ML.NET featurizer int8 vs DnnFeaturizeImage (both warm)", ratio("featurizer_ours_int8", "featurizer_dnn"), 2.0),
    ("int8 featurize (CLI, one cold pass) vs DnnFeaturizeImage (warm pass)", ratio("featurizer_ours_int8_cli", "featurizer_dnn"), None),
    ("network int8 vs fp32 (ONNX Runtime, batch 32)", ratio("network_int8_batch32", "network_fp32_batch32"), None),
    ("network fp32 vs PyTorch eager (batch 32)", ratio("network_fp32_batch32", "network_pytorch_batch32"), None),
    ("training 32² TorchSharp vs PyTorch (img/s)", ratio("train32_torchsharp", "train32_pytorch"), 1.0),
    ("training 224² TorchSharp vs PyTorch (img/s)", ratio("train224_torchsharp", "train224_pytorch"), 1.0),
    ("training 224² TorchSharp vs PyTorch with channels_last (img/s)", ratio("train224_torchsharp", "train224_pytorch_cl"), None),
    # Issue 12: training inside a notebook kernel within 1.5× the program's time, i.e. ≥ 1/1.5 of its img/s.
    ("training 32² in a notebook kernel vs the program (img/s)", ratio("train32_kernel", "train32_torchsharp"), round(1 / 1.5, 2)),
]
# Memory compares whole process trees: PyTorch's loader workers are part of what its training takes from the machine,
# as our decoding threads are part of ours. The main processes alone, for reference.
for size in ("32", "224"):
    for peaks, what, target in ((tree, "peak memory of the process tree", -1.2), (rss, "peak RSS of the main process alone (PyTorch's loader workers left out)", None)):
        a, b = peaks.get(f"train{size}_torchsharp"), peaks.get(f"train{size}_pytorch")
        targets.append((f"training {size}² {what}, TorchSharp / PyTorch (lower is better)", (a / b, None, None) if a and b else None, target))
out("| comparison | ratio (per-round min–max) | target | verdict |")
out("| --- | --- | --- | --- |")
for label, measured, target in targets:
    if measured is None:
        out(f"| {label} | not measured | {'' if target is None else abs(target)} | — |")
        continue
    value, lo, hi = measured
    if target is None:
        verdict, shown = "", ""
    elif target < 0:
        verdict, shown = ("met" if value <= -target else f"missed by {value / -target - 1:.0%}"), f"≤ {-target}"
    else:
        verdict, shown = ("met" if value >= target else f"missed: {value / target:.0%} of it"), f"≥ {target}"
    spread = f" ({lo:.2f}–{hi:.2f})" if lo is not None else ""
    out(f"| {label} | {value:.2f}×{spread} | {shown} | {verdict} |")
if "main_job_wall" in r:
    out(f"| main job wall time (training + test; build not included) | {r['main_job_wall']['median']:.0f} s | ≤ 480 s incl. build | "
        f"{'met' if r['main_job_wall']['median'] <= 480 else 'missed'} |")
    out(f"| main job test accuracy | {r['main_job_accuracy']['median']:.3f} | ≥ 0.88 | {'met' if r['main_job_accuracy']['median'] >= 0.88 else 'missed'} |")
out("")

stages = [("decode (LoadImages)", "profile_decode"), ("resize (ResizeImages IsoCrop)", "profile_resize"),
          ("pixel extraction (ExtractPixels)", "profile_extract_pixels"), ("network (ONNX Runtime, batch 32)", "profile_network"),
          ("the rest: batching copies, cursor, crop/normalise", "profile_rest")]
if "profile_total" in r:
    total = med("profile_total")
    out("## Where the featurizer's time goes")
    out("")
    out("`MLNetFeaturizer --mode profile`: each stage timed as a pass over its own prefix of the pipeline, the network alone "
        "on ready batches; \"the rest\" is the full pipeline minus all of them. One run, after a warm-up run. A negative rest "
        "means the pipeline overlaps stages (decoding the next batch while the network runs), so the stages add up to more "
        "than the whole; ML.NET's LoadImages may defer part of the decoding to the first pixel access, which then counts "
        "under resize.")
    out("")
    out("| stage | ms per image | share |")
    out("| --- | --- | --- |")
    for label, key in stages:
        v = med(key)
        out(f"| {label} | {v:.2f} | {100 * v / total:.0f} % |" if v is not None else f"| {label} | not measured | |")
    out(f"| **total** | {total:.2f} | 100 % |")
    out("")
    if med("profile_peer_resize") is not None:
        out(f"For comparison, the `DnnFeaturizeImage` pipeline's resize (straight to 224²) took {med('profile_peer_resize'):.2f} ms per "
            f"image against our {med('profile_resize'):.2f} ms: ML.NET's `ResizeImages` returns an image that already has the target size "
            "as it is, and these Imagenette JPEGs are 224², while ours is resized up to 256² (the ImageNet evaluation transform: "
            "resize 256, centre crop 224) with SkiaSharp's high filter quality. On photographs of other sizes both pipelines resize.")
        out("")

out("## Commands")
out("")
for w in data["workloads"]:
    out(f"- `{w['name']}`: `{w['cmd']}`")
out("")
out("## Earlier results (other days, other load; kept for their notes)")
out("")
out("- [RESULTS-mlnet.md](RESULTS-mlnet.md): the first ML.NET featurizer comparisons.")
out("- [RESULTS-training.md](RESULTS-training.md): training throughput, peak memory and the main job.")
out("- [cli-throughput.md](cli-throughput.md) and [onnx/results.md](onnx/results.md): `resnet featurize`/`predict` end to end, TorchSharp vs ONNX Runtime.")
out("- [main-job-frontier.md](main-job-frontier.md): the main job's time/accuracy frontier (`benchmarks/main-job-frontier.sh`).")
out("- [transfer/RESULTS.md](transfer/RESULTS.md): transfer learning from `mlnet-imagenet` on cifar10-small: linear probe, fine-tuned, and from scratch in the same wall time (`benchmarks/transfer/run.sh`).")

charts = []
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(os.path.join(HERE, "charts"), exist_ok=True)
    groups = {}
    for name, v in r.items():
        w = workloads.get(v["workload"], {})
        if v["unit"] == "img/s":
            groups.setdefault(w.get("group", "other"), []).append((w.get("label", name), v))
    for group, items in groups.items():
        fig, ax = plt.subplots(figsize=(8, 0.6 + 0.5 * len(items)))
        labels = [l for l, _ in items]
        med_ = [v["median"] for _, v in items]
        err = [[v["median"] - v["min"] for _, v in items], [v["max"] - v["median"] for _, v in items]]
        ax.barh(labels, med_, xerr=err, color="#4c72b0")
        ax.set_xlabel("images/s (median, min–max)")
        ax.set_title(f"{group}\n{cpu}, {m['cores']} cores", fontsize=10)
        ax.invert_yaxis()
        fig.tight_layout()
        path = f"charts/{group}.png"
        fig.savefig(os.path.join(HERE, path), dpi=100)
        plt.close(fig)
        charts.append(path)
except ImportError:
    out("")
    out("Charts: not drawn (python3-matplotlib is not installed; `.ci/install-deps` installs it).")
if charts:
    out("")
    out("## Charts")
    out("")
    for c in charts:
        out(f"![{c}]({c})")
open(os.path.join(HERE, "RESULTS.md"), "w").write("\n".join(lines) + "\n")
print(f"wrote {os.path.join(HERE, 'RESULTS.md')}" + (f" and {len(charts)} charts" if charts else ""))
