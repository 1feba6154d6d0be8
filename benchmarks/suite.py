#!/usr/bin/python3
"""The benchmark suite behind benchmarks/run.sh: runs every workload (one warm-up, then --runs timed runs, each its
own process so its peak RSS is its own), and writes benchmarks/RESULTS.md and benchmarks/charts/*.png.

Each workload is a command that prints "RESULT <name> <value> <unit>" lines (or a line a regex below reads); the
suite keeps the median and min-max over the runs, the peak RSS (the process's ru_maxrss, from wait4) and the peak
memory of its process tree (the sum of the PSS of the process and its descendants, sampled), achieved
GFLOP/s from the analytic operation count of ResNet18, and ratios against the references measured in the same run.
Run it through benchmarks/run.sh, which installs/builds what it needs first.
"""
import argparse, datetime, json, os, platform, re, resource, shlex, shutil, statistics, subprocess, sys, threading, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
p = argparse.ArgumentParser()
p.add_argument("--runs", type=int, default=5)
p.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "datasets", "imagenette-small"))
p.add_argument("--count", type=int, default=500, help="JPEGs per featurizer run")
p.add_argument("--main-job", action="store_true", help="also time the main job to its test accuracy (long)")
p.add_argument("--only", default="", help="comma-separated workload names (for a quick check)")
p.add_argument("--work", default="/tmp/resnet-benchmarks")
a = p.parse_args()
os.makedirs(a.work, exist_ok=True)

DOTNET = ["dotnet"]
RESNET = DOTNET + [os.path.join(ROOT, "ResNet.Cli/bin/Release/net10.0/resnet.dll")]
BENCH = DOTNET + [os.path.join(ROOT, "benchmarks/MLNetFeaturizer/bin/Release/net10.0/MLNetFeaturizer.dll")]
PY = ["/usr/bin/python3"]
val = os.path.join(a.images, "val")
train = os.path.join(a.images, "train")


def resnet18_gflop(side, stem="imagenet"):
    """Forward GFLOP (2 per multiply-add) of ResNet18's convolutions and classifier (10 classes) at side x side."""
    macs = 0
    def conv(size, cin, cout, k, stride, pad):
        nonlocal macs
        out = (size + 2 * pad - k) // stride + 1
        macs += out * out * cout * cin * k * k
        return out
    if stem == "imagenet":
        s = conv(side, 3, 64, 7, 2, 3)
        s = (s + 2 - 3) // 2 + 1  # max pool 3x3 stride 2 pad 1
    else:
        s = conv(side, 3, 64, 3, 1, 1)
    cin = 64
    for stage, width in enumerate([64, 128, 256, 512]):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            out = conv(s, cin, width, 3, stride, 1)
            conv(out, width, width, 3, 1, 1)
            if stride != 1 or cin != width:
                conv(s, cin, width, 1, stride, 0)
            s, cin = out, width
    macs += 512 * 10
    return 2 * macs / 1e9


F224, F32 = resnet18_gflop(224), resnet18_gflop(32)
TRAIN = 3  # a training step costs about 3 forward passes (forward, input gradients, weight gradients)

# name, group (what compares with what), command, label, GFLOP per image (None: not a network workload), a regex for
# the img/s when the command prints no RESULT line.
W = []
def workload(name, group, cmd, label, gflop=None, parse=None):
    W.append(dict(name=name, group=group, cmd=cmd, label=label, gflop=gflop, parse=parse))

int8_model = os.path.join(a.work, "r18-int8.onnx")
float_weights = os.path.join(a.work, "r18.pt")
workload("gemm", "peak", PY + ["benchmarks/peak/gemm_peak.py"], "fp32 and int8 GEMM peaks through PyTorch (oneDNN), 1024³, best of 5")
workload("gemm_ort", "peak", BENCH + [val, "--mode", "gemm", "--count", "1"], "fp32 MatMul and u8·s8 MatMulInteger peaks through ONNX Runtime (MLAS), 1024³, best of 5")
workload("network_fp32_batch32", "network", BENCH + [val, "--mode", "network", "--batch-size", "32", "--rounds", "1"], "ours, ONNX Runtime fp32, batch 32 (network only)", F224)
workload("network_int8_batch32", "network", BENCH + [val, "--mode", "network", "--batch-size", "32", "--rounds", "1", "--onnx", int8_model], "ours, ONNX Runtime int8, batch 32 (network only)", F224)
workload("network_pytorch_batch32", "network", PY + ["benchmarks/reference/torch_featurize.py", "network", "--batch-size", "32"], "PyTorch eager fp32, batch 32 (network only)", F224)
workload("latency_batch1", "latency", BENCH + [val, "--mode", "latency", "--count", "20", "--rounds", "1"], "ours, PredictionEngine.Predict, 1 image (ms, median of 10 calls)")
workload("latency_batch1_reloaded", "latency", BENCH + [val, "--mode", "latency-reloaded", "--count", "20", "--rounds", "1"],
         "ours, saved and loaded back (stock OnnxTransformer, ONNX Runtime's default threads), PredictionEngine.Predict (ms)")
workload("latency_batch1_reloaded_threads", "latency", BENCH + [val, "--mode", "latency-reloaded", "--count", "20", "--rounds", "1", "--session-threads", str(os.cpu_count())],
         "ours, saved and loaded back into an MLContext whose OnnxSessionOptions set one thread per core, PredictionEngine.Predict (ms)")
workload("featurizer_ours", "featurizer", BENCH + [val, "--mode", "ours", "--count", str(a.count), "--rounds", "2"], "ours: LoadImages → ResNet18Featurizer (fp32)", F224)
workload("featurizer_ours_int8", "featurizer", BENCH + [val, "--mode", "ours", "--precision", "int8", "--count", str(a.count), "--rounds", "2"], "ours: LoadImages → ResNet18Featurizer (Precision.Int8)", F224)
workload("featurizer_ours_int8_cli", "featurizer", RESNET + ["featurize", "--onnx", int8_model, "--precision", "int8", "--images", val, "--output", os.path.join(a.work, "f.csv"), "--batch-size", "32", "--device", "cpu"],
         "ours: resnet featurize --precision int8 (CLI)", F224, parse=r"featurize: (\d+) images in [\d.]+ s \(([\d.]+) img/s\)")
workload("featurizer_dnn", "featurizer", BENCH + [val, "--mode", "dnn", "--count", str(a.count), "--rounds", "2"], "ML.NET DnnFeaturizeImage ResNet18", F224)
workload("featurizer_pytorch_pil", "featurizer", PY + ["benchmarks/reference/torch_featurize.py", "pipeline", val, "--count", str(a.count), "--rounds", "2"], "PyTorch eager + PIL decoding", F224)
workload("train32_torchsharp", "train32", RESNET + ["train", "--data", "fashion-mnist:data/fashion-mnist-small", "--epochs", "2", "--val-split", "0.5", "--threads", "2", "--output", os.path.join(a.work, "t32")],
         "ours (TorchSharp), 32², batch 128", F32 * TRAIN, parse=r"epoch 2/2  train loss .* ([\d.]+) img/s")
workload("train32_kernel", "train32", DOTNET + ["repl", "--run", "benchmarks/training/kernel-train32.ipynb", "--exit-after-run", "--output-path", os.path.join(a.work, "kernel-train32.ipynb")],
         "ours inside a notebook kernel (dotnet repl), 32², batch 128", F32 * TRAIN)
workload("train32_pytorch", "train32", PY + ["benchmarks/training/train_bench_torch.py", "fashion", "data/fashion-mnist-small", "--epochs", "2", "--val", "0.5"],
         "PyTorch 1.13, 32², batch 128", F32 * TRAIN, parse=r"epoch 2/2: loss \S+ ([\d.]+) img/s")
workload("train224_torchsharp", "train224", RESNET + ["train", "--data", a.images, "--epochs", "1", "--batch-size", "32", "--val-split", "0.6", "--threads", "2", "--output", os.path.join(a.work, "t224")],
         "ours (TorchSharp), 224², batch 32", F224 * TRAIN, parse=r"epoch 1/1  train loss .* ([\d.]+) img/s")
workload("train224_pytorch", "train224", PY + ["benchmarks/training/train_bench_torch.py", "imagenette", a.images, "--epochs", "1"],
         "PyTorch 1.13, 224², batch 32", F224 * TRAIN, parse=r"training img/s: ([\d.]+)")
workload("train224_pytorch_cl", "train224", PY + ["benchmarks/training/train_bench_torch.py", "imagenette", a.images, "--epochs", "1", "--channels-last"],
         "PyTorch 1.13 with channels_last (its opt-in), 224², batch 32", F224 * TRAIN, parse=r"training img/s: ([\d.]+)")
workload("profile", "profile", BENCH + [val, "--mode", "profile", "--count", str(a.count)], "featurizer stages (ms per image)")
if a.main_job:
    workload("main_job", "main", RESNET, "main job: train 12 epochs on fashion-mnist-small, then test", parse=r"test accuracy:? ([\d.]+)")
if a.only:
    W[:] = [w for w in W if w["name"] in a.only.split(",")]


def tree_pss_mib(root):
    """The proportional set size of a process and all its descendants, in MiB: a page shared by several of them (a
    forked loader worker's copy-on-write pages, a shared library) counts once in the sum, split between its users."""
    def read(path, parse, empty):
        try:
            with open(path) as f:
                return parse(f)
        except (OSError, StopIteration):  # it ended while being read (a zombie has no Pss line)
            return empty

    def threads(pid):
        try:
            return os.listdir(f"/proc/{pid}/task")
        except OSError:
            return []

    # Each read stands alone: a thread that ends while the tree is walked costs its own entry, not its process's PSS.
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += read(f"/proc/{pid}/smaps_rollup", lambda f: next(int(line.split()[1]) for line in f if line.startswith("Pss:")), 0)
        for thread in threads(pid):
            todo += read(f"/proc/{pid}/task/{thread}/children", lambda f: [int(c) for c in f.read().split()], [])
    return total / 1024


class TreeMemory(threading.Thread):
    """Samples tree_pss_mib of a running command every SAMPLE_S and keeps the largest sum. A process's own peak RSS
    (wait4) misses what its child processes hold: PyTorch's DataLoader workers decode in two processes of their own
    (about 250 MiB together at 224²), while ours decodes on threads inside the measured process.
    Only the warm-up run is sampled, never a timed one: one read of smaps_rollup walks the process's page tables under
    its memory-map lock and took 20-30 ms of CPU for either side's featurizer, so sampling every 0.2 s slowed the
    timed command on 2 cores, and unevenly (2026-12-07, six alternated runs each: our fp32 featurizer 41-50 img/s
    sampled against 50-54 unobserved, PyTorch's 34.5-35.8 against 36.1-37.3)."""
    SAMPLE_S = 0.2

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()
        self.start()

    def run(self):
        while not self.done.wait(self.SAMPLE_S):
            self.peak = max(self.peak, tree_pss_mib(self.pid))

    def stop(self):
        self.done.set()
        self.join()
        return self.peak


def measure(cmd, sample_tree=False):
    """Runs cmd; returns its output, wall time, its own peak RSS (wait4, free to read) and, with sample_tree, its process
    tree's peak PSS (TreeMemory; None without)."""
    # A training run refuses a run folder that already holds a run (it offers --resume): each run starts afresh.
    for flag, path in zip(cmd, cmd[1:]):
        if flag == "--output" and path.startswith(a.work) and os.path.isdir(path):
            shutil.rmtree(path)
    # wait4 gives each child's own peak RSS, unlike RUSAGE_CHILDREN (the maximum over every child so far).
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tree = TreeMemory(proc.pid) if sample_tree else None
    out = proc.stdout.read()
    tree_peak = tree.stop() if tree else None  # before wait4 reaps the process, while its /proc entries still exist
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited with {proc.returncode}:\n{out[-2000:]}")
    # dotnet repl writes cell outputs into the executed notebook, not to stdout: read RESULT lines from there.
    if "--output-path" in cmd:
        executed = json.load(open(cmd[cmd.index("--output-path") + 1]))
        out += "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    return out, wall, usage.ru_maxrss / 1024, tree_peak


# The featurizer pipelines (ours, DnnFeaturizeImage's, PyTorch's) make two passes over the images in one process and
# report the second (the last RESULT line wins): the first pays one-time costs (ONNX Runtime's first runs, JIT,
# oneDNN's kernel choice) that a long featurizing job does not. The int8 CLI row is one pass, as a user runs it.
def values(w, out, wall):
    """{result name: (value, unit)} from one run's output."""
    if w["parse"]:
        m = re.findall(w["parse"], out)
        if not m:
            raise RuntimeError(f"{w['name']}: no line matching {w['parse']!r} in:\n{out[-2000:]}")
        last = m[-1]
        value = float(last[-1] if isinstance(last, tuple) else last)
        if w["name"] == "main_job":
            return {"main_job_accuracy": (value, "accuracy"), "main_job_wall": (wall, "s")}
        return {w["name"]: (value, "img/s")}
    found = {}
    for name, value, unit in re.findall(r"^RESULT (\S+) (-?[\d.]+) (\S+)", out, re.M):
        found[name] = (float(value), unit)
    return found


def machine():
    info = {}
    cpuinfo = open("/proc/cpuinfo").read()
    info["cpu"] = re.search(r"model name\s*:\s*(.*)", cpuinfo).group(1)
    # VMs name every AMD generation "AMD EPYC": family/model/stepping tell the machines of two sessions apart.
    info["cpu_id"] = ", ".join(f"{field} {m.group(1)}" for field in ["family", "model", "stepping"]
                               if (m := re.search(rf"^(?:cpu )?{field}\s*:\s*(\S+)", cpuinfo, re.M)))
    flags = set(re.search(r"flags\s*:\s*(.*)", cpuinfo).group(1).split())
    info["flags"] = {f: f in flags for f in ["avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8"]}
    info["cores"] = os.cpu_count()
    info["memory"] = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    info["os"] = platform.platform()
    info["dotnet"] = subprocess.run(DOTNET + ["--version"], capture_output=True, text=True).stdout.strip()
    props = open(os.path.join(ROOT, "Directory.Packages.props")).read()
    for package in ["TorchSharp", "Microsoft.ML.OnnxRuntime", "Microsoft.ML", "Microsoft.ML.DnnImageFeaturizer.ResNet18"]:
        m = re.search(rf'Include="{re.escape(package)}" Version="([^"]+)"', props)
        info[package] = m.group(1) if m else "?"
    info["pytorch"] = subprocess.run(PY + ["-c", "import torch, torchvision; print(torch.__version__, torchvision.__version__)"], capture_output=True, text=True).stdout.strip() or "unavailable"
    info["load_start"] = open("/proc/loadavg").read().split()[:3]
    info["started"] = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    return info


def prepare():
    """The int8 model and the seeded torchvision weights the int8 workloads use."""
    if not os.path.exists(float_weights):
        subprocess.run(PY + ["-c", f"import torch, torchvision; torch.manual_seed(0); torch.save(torchvision.models.resnet18().state_dict(), {float_weights!r})"], check=True)
    subprocess.run(RESNET + ["export", "--weights", float_weights, "--output", int8_model, "--precision", "int8", "--calibration", train], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


info = machine()
prepare()
results, unavailable, rss, tree = {}, [], {}, {}
# The workloads of a group run interleaved, round by round (a warm-up of each, then run 1 of each, run 2 of each, …):
# this machine's speed drifts by up to 20 % within minutes (presumably other tenants of the host: the VM reports no
# steal time), so five runs of one side followed by five of the other compared two different machines. report.py
# pairs the runs of a round for the ratios.
groups = {}
for w in W:
    groups.setdefault(w["group"], []).append(w)
for group in groups.values():
    runs = 1 if group[0]["name"] in ("main_job", "profile") else a.runs
    live, samples, peaks = [], {}, {}
    for w in group:
        warm_ups = 0 if w["name"] == "main_job" else 1
        print(f"== {w['name']}: {shlex.join(w['cmd'])} ({warm_ups} warm-up + {runs}, interleaved with the rest of '{w['group']}')", flush=True)
        try:
            if warm_ups:
                # The warm-up (JIT, page cache, first-touch of model files) is the run whose process tree is sampled.
                _, _, peak, tree_peak = measure(w["cmd"], sample_tree=True)
                peaks[w["name"]], tree[w["name"]] = [peak], tree_peak
            live.append(w)
        except (RuntimeError, FileNotFoundError) as e:
            unavailable.append((w["name"], str(e).splitlines()[0]))
            print(f"   unavailable: {e}", flush=True)
    for round_ in range(runs):
        for w in list(live):
            try:
                out, wall, peak, _ = measure(w["cmd"])
            except (RuntimeError, FileNotFoundError) as e:
                unavailable.append((w["name"], str(e).splitlines()[0]))
                print(f"   {w['name']} unavailable (round {round_ + 1}): {e}", flush=True)
                live.remove(w)
                continue
            peaks.setdefault(w["name"], []).append(peak)
            got = values(w, out, wall)
            for name, (value, unit) in got.items():
                samples.setdefault(name, (unit, w["name"], []))[2].append(value)
            print(f"   round {round_ + 1}: " + ", ".join(f"{n} {v:.2f} {u}" for n, (v, u) in got.items()), flush=True)
    for name, (unit, workload_name, vs) in samples.items():
        if workload_name not in [w["name"] for w in live]:
            continue
        results[name] = dict(unit=unit, median=statistics.median(vs), min=min(vs), max=max(vs), runs=len(vs), values=vs, workload=workload_name)
        print(f"   {name}: median {statistics.median(vs):.2f} {unit} ({min(vs):.2f}–{max(vs):.2f}, {len(vs)} runs)", flush=True)
    for w in live:
        rss[w["name"]] = max(peaks[w["name"]])
info["load_end"] = open("/proc/loadavg").read().split()[:3]
json.dump(dict(machine=info, results=results, rss=rss, tree=tree, unavailable=unavailable, workloads=[{k: w[k] for k in ("name", "group", "label", "gflop")} | {"cmd": shlex.join(w["cmd"])} for w in W]),
          open(os.path.join(ROOT, "benchmarks", "results.json"), "w"), indent=1)
subprocess.run(PY + [os.path.join(ROOT, "benchmarks", "report.py")], check=True)
