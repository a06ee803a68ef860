"""Serving speed, both sides in one run: the champion's predictor in this process on real clips (latency and CPU
seconds per clip by part: decode, features, each member), then the same clips through a real `bentoml serve` of the
champion's Bento on 127.0.0.1 at several concurrency levels (p50/p95/p99, requests/s, errors), and the cold start
from launching the server to its first answer, and what the prediction log costs: two servers, one with the log on
and one with it off, answer the same clips in turns (p50 of each). Beside the champion, in the same process and on
the same clips, the kind of champion the serving issue measured its 0.414 CPU-s per clip on (logistic regression +
VGG16 at 64x64 in float32, averaged): the ratio of the two is the CPU saved per clip on this processor. Figures go
in BENCHMARKS.md's serving section.

    .venv/bin/python bench/serve.py --home .genre                      # gtzan-mini clips, levels 1 4 8 16
    .venv/bin/python bench/serve.py --home .genre --clips 10 --requests 40 --levels 1 8 --log-requests 60
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import free_port, start, stop, wait_until  # noqa: E402


def percentiles(seconds: list[float]) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(seconds, q)) for q in (50, 95, 99)}


def in_process(predictor, clips: list[Path], repeat: int) -> dict[str, float]:
    """Wall latency of ``classify_file`` per clip, CPU seconds per clip, and CPU seconds by part."""
    from genre.features.extractor import analyse, segment_features, segment_mels
    from genre.features.pretrained import segment_embeddings
    from genre.models import vgg16
    from genre.models.classical import predict_proba
    from genre.serving.predictor import NETWORK, PRETRAINED

    predictor.classify_file(clips[0])  # warm-up: the forward pass is compiled on the first call
    walls, cpu0 = [], time.process_time()
    for _ in range(repeat):
        for clip in clips:
            t = time.perf_counter()
            predictor.classify_file(clip)
            walls.append(time.perf_counter() - t)
    out = {**percentiles(walls), "cpu_per_clip": (time.process_time() - cpu0) / len(walls)}
    parts: dict[str, float] = {}

    def timed(name: str, fn, *args):
        t = time.process_time()
        result = fn(*args)
        parts[name] = parts.get(name, 0.0) + time.process_time() - t
        return result

    cfg = predictor.features
    for clip in clips:  # the same steps as Predictor.classify_signal, one by one
        y, _ = timed("decode", predictor.decode, clip)
        spectra = timed("features", analyse, y, cfg)
        features = timed("features", segment_features, spectra)
        mels = timed("features", segment_mels, spectra)
        for member in predictor.members:
            if member == NETWORK:
                timed(f"{member} forward", vgg16.predict, predictor.cnn, mels, predictor.image_size, cfg.top_db)
            elif member == PRETRAINED:
                embeddings = timed(f"{member} embeddings", segment_embeddings, y, cfg, predictor.pretrained,
                                   predictor.pretrained_dir)
                timed(f"{member} head", predict_proba, predictor.classical[member], embeddings, len(predictor.labels))
            else:
                timed(member, predict_proba, predictor.classical[member], features, len(predictor.labels))
    return out | {f"cpu {k}": v / len(clips) for k, v in parts.items()}


def by_part(run: dict[str, float]) -> str:
    return ", ".join(f"{k[4:]} {v:.3f}" for k, v in run.items() if k.startswith("cpu "))


def issue_champion(predictor, clips: list[Path]):
    """The serving issue's champion, built by this code with the champion's feature config: logistic regression
    fitted on the clips' segments (labelled by their folder) and averaged with a VGG16 at 64x64 in float32. The
    network keeps its initial weights: a forward pass costs the same whatever the weights, and this is a cost."""
    from genre.config import CNNConfig
    from genre.features.extractor import analyse, segment_features
    from genre.models import vgg16
    from genre.models.classical import make_model
    from genre.models.ensemble import Combiner
    from genre.serving.predictor import NETWORK, Predictor

    labels = sorted({c.parent.name for c in clips})
    rows = [(segment_features(analyse(predictor.decode(c)[0], predictor.features)), labels.index(c.parent.name))
            for c in clips]
    logreg, _ = make_model("logreg", 0)
    logreg.fit(np.concatenate([x for x, _ in rows]), np.concatenate([np.full(len(x), k) for x, k in rows]))
    with vgg16.precision_policy("float32"):
        cnn = vgg16.build(len(labels), CNNConfig(image_size=64, precision="float32"))
    return Predictor(labels=labels, features=predictor.features, classical={"logreg": logreg},
                     combiner=Combiner("average", ["logreg", NETWORK], [0.5, 0.5]), cnn=cnn, image_size=64)


def server_tree(pid: int) -> list:
    """Process ``pid`` and its children: the server, BentoML's supervisor and its workers."""
    import psutil

    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_cpu(pid: int) -> float:
    """CPU seconds so far of the server's processes."""
    import psutil

    total = 0.0
    for proc in server_tree(pid):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def load(base: str, bodies: list[tuple[str, bytes]], concurrency: int, requests: int,
         server_pid: int) -> dict[str, float]:
    """``requests`` uploads at ``concurrency`` at once, each worker on its own keep-alive connection; with the CPU
    seconds per request of the server (its process tree) and of this client, which share the machine's cores."""
    import httpx

    per_worker = [list(range(i, requests, concurrency)) for i in range(concurrency)]

    def worker(indices: list[int]) -> list[tuple[float, bool]]:
        out = []
        with httpx.Client(base_url=base, timeout=300) as client:
            for i in indices:
                name, body = bodies[i % len(bodies)]
                t = time.perf_counter()
                try:
                    ok = client.post("/classify", files={"audio": (name, body)}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                out.append((time.perf_counter() - t, ok))
        return out

    start_wall, client0, server0 = time.perf_counter(), time.process_time(), tree_cpu(server_pid)
    with ThreadPoolExecutor(concurrency) as pool:
        results = [r for part in pool.map(worker, per_worker) for r in part]
    wall = time.perf_counter() - start_wall
    n = len(results)
    return {**percentiles([s for s, _ in results]), "rps": n / wall, "errors": sum(not ok for _, ok in results),
            "requests": n, "server_cpu": (tree_cpu(server_pid) - server0) / n,
            "client_cpu": (time.process_time() - client0) / n}


def logging_cost(bento: str, env: dict[str, str], bodies: list[tuple[str, bytes]], requests: int,
                 folder: Path) -> dict[str, float]:
    """p50 latency of /classify at concurrency 1 with the prediction log off and on: two servers of ``bento`` asked
    in turns (the order alternating), so both see the same machine; and how many answers the log holds after."""
    import httpx

    from genre.config import ServeConfig
    from genre.serving import prediction_log

    home = folder / "log-home"
    servers, bases = [], {}
    for name, log in (("off", False), ("on", True)):
        port = free_port()
        cfg = ServeConfig(port=port, log=log)
        servers.append(start([sys.executable, "-m", "bentoml", "serve", bento, "--port", str(port)],
                             {**env, "GENRE_HOME": str(home), "GENRE_SERVE_CONFIG": cfg.model_dump_json()},
                             folder / f"log-{name}.log"))
        bases[name] = f"http://127.0.0.1:{port}"
    since = prediction_log.now()
    try:
        for server, base in zip(servers, bases.values()):
            wait_until(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, 300, "bentoml serve", server)
        times: dict[str, list[float]] = {"off": [], "on": []}
        with httpx.Client(timeout=300) as client:
            for i in range(requests + 2):
                for name in ("off", "on") if i % 2 else ("on", "off"):
                    body = bodies[i % len(bodies)]
                    t = time.perf_counter()
                    client.post(f"{bases[name]}/classify", files={"audio": body}).raise_for_status()
                    if i >= 2:  # the first two rounds warm both up
                        times[name].append(time.perf_counter() - t)
    finally:
        for server in servers:
            stop(server)
    p50 = {name: float(np.percentile(seconds, 50)) for name, seconds in times.items()}
    paired = float(np.median(np.array(times["on"]) - np.array(times["off"])))  # per round: the load cancels out
    return {**p50, "paired": paired, "logged": len(prediction_log.read(home, "predictions", since)),
            "requests": requests}


def log_cpu(labels: list[str], n_features: int, records: int = 2000) -> float:
    """CPU seconds the prediction log spends per answer (the request's queue put and the writer thread's JSON and
    write), on records shaped like the service's: a noise-free figure beside the p50s of :func:`logging_cost`."""
    from genre.serving.prediction_log import PredictionLog, new_request_id, now

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        log = PredictionLog(tmp)
        t = time.process_time()  # of every thread of this process, the writer's too
        for _ in range(records):
            log.predicted({"id": new_request_id(), "at": now().isoformat(), "model": "genre-classifier:bench",
                           "seconds": 0.8, "audio_seconds": 30.0, "truncated": False, "genre": labels[0],
                           "probabilities": dict(zip(labels, rng.dirichlet(np.ones(len(labels))).tolist())),
                           "unusual": [], "features": (rng.standard_normal(n_features) * 100).tolist()})
        log.flush()
        cpu = (time.process_time() - t) / records
        log.close()
    return cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", default=os.environ.get("GENRE_HOME", ".genre"), help="home with a champion")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "gtzan-mini"), help="clips folder")
    ap.add_argument("--clips", type=int, default=20, help="clips used (spread over the genres)")
    ap.add_argument("--repeat", type=int, default=2, help="in-process passes over the clips")
    ap.add_argument("--requests", type=int, default=80, help="requests per concurrency level")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8, 16], help="concurrency levels")
    ap.add_argument("--log-requests", type=int, default=60,
                    help="requests to each of the log-on and log-off servers (0: skip the logging cost)")
    ap.add_argument("--bento", help="the Bento to serve (default: the champion's; `genre package` builds one of "
                                    "the current code)")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false",
                    help="skip the issue's champion (logreg + VGG16 64x64 float32) measured beside the champion")
    args = ap.parse_args()

    from genre.features.extractor import feature_names
    from genre.serving import registry
    from genre.serving.predictor import Predictor

    record = registry.champion(args.home)
    if record is None:
        print(f"no champion in {args.home}: run `genre run` first", file=sys.stderr)
        return 2
    store = registry.use_store(args.home)
    bento = args.bento or record["bento"]
    files = sorted(Path(args.data).rglob("*.wav"))
    clips = files[:: max(1, len(files) // args.clips)][: args.clips]
    seconds = np.mean([sf.info(c).duration for c in clips])
    print(f"champion {record['tag']} (Bento {bento}); {len(clips)} clips of {seconds:.1f} s on average")
    print(subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip())

    predictor = Predictor.load(registry.model_path(record["tag"]))
    from threadpoolctl import threadpool_info

    from genre.threads import one_blas_thread

    blas = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    default = in_process(predictor, clips, args.repeat)
    one_blas_thread()  # as the service and `genre predict` run (genre/threads.py)
    local = in_process(predictor, clips, args.repeat)
    print(f"\nin-process with {blas} BLAS threads (the process default): p50 {default['p50']:.3f} s, CPU "
          f"{default['cpu_per_clip']:.3f} s per clip; with one, as served: p50 {local['p50']:.3f} s, CPU "
          f"{local['cpu_per_clip']:.3f} s ({default['cpu_per_clip'] / local['cpu_per_clip']:.2f}x less CPU, p50 "
          f"{local['p50'] / default['p50']:.2f}x)")
    cores = os.cpu_count() or 1
    bound = cores / local["cpu_per_clip"]
    print(f"in-process (one BLAS thread): p50 {local['p50']:.3f} s, p95 {local['p95']:.3f} s, CPU {local['cpu_per_clip']:.3f} s "
          f"per clip -> compute bound {bound:.2f} requests/s on {cores} cores")
    print(f"CPU seconds per clip: {by_part(local)}")
    if args.baseline:
        base_run = in_process(issue_champion(predictor, clips), clips, args.repeat)
        print(f"the issue's champion (logreg + VGG16 64x64 float32) on the same clips: p50 {base_run['p50']:.3f} s, "
              f"CPU {base_run['cpu_per_clip']:.3f} s per clip ({by_part(base_run)})")
        print(f"-> the champion takes {local['cpu_per_clip'] / base_run['cpu_per_clip']:.2f}x its CPU per clip "
              f"({base_run['cpu_per_clip'] / local['cpu_per_clip']:.2f}x less)")
    cpu_log = log_cpu(predictor.labels, len(feature_names(predictor.features)))
    print(f"prediction log: {cpu_log * 1000:.3f} CPU-ms per answer ({cpu_log / local['p50']:.3%} of the in-process p50)")
    del predictor

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BENTOML_HOME": str(store), "BENTOML_DO_NOT_TRACK": "true"}
    bodies = [(c.name, c.read_bytes()) for c in clips]
    with tempfile.TemporaryDirectory() as tmp:
        env["GENRE_HOME"] = str(Path(tmp) / "home")  # the bench's answers are logged there, not in --home
        t0 = time.perf_counter()
        server = start([sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1", "--port",
                        str(port)], env, Path(tmp) / "server.log")
        try:
            import httpx

            name, body = bodies[0]
            wait_until(lambda: httpx.post(f"{base}/classify", files={"audio": (name, body)}, timeout=60)
                       .status_code == 200, 300, "bentoml serve", server)
            cold = time.perf_counter() - t0
            tree = server_tree(server.pid)
            rss = sum(p.memory_info().rss for p in tree) / 2**20
            print(f"\ncold start to the first answer: {cold:.1f} s; the server's processes hold {rss:.0f} MiB "
                  f"(resident, {len(tree)} processes)")
            print("| concurrency | requests | p50 s | p95 s | p99 s | requests/s | errors | p50 vs in-process "
                  "| of the bound | server CPU-s/request | client CPU-s/request |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for level in args.levels:
                r = load(base, bodies, level, max(args.requests, level), server.pid)
                print(f"| {level} | {r['requests']} | {r['p50']:.3f} | {r['p95']:.3f} | {r['p99']:.3f} | "
                      f"{r['rps']:.2f} | {r['errors']} | {r['p50'] / local['p50']:.2f}x | {r['rps'] / bound:.0%} | "
                      f"{r['server_cpu']:.3f} | {r['client_cpu']:.3f} |")
            print("(the bound: cores / in-process CPU per clip; the client runs on the same cores, so the service "
                  "can reach at most cores / (server + client CPU per request))")
        finally:
            stop(server)
        if args.log_requests:
            cost = logging_cost(bento, env, bodies, args.log_requests, Path(tmp))
            print(f"\nprediction log, {cost['requests']} requests each, in turns at concurrency 1: p50 "
                  f"{cost['off']:.3f} s off, {cost['on']:.3f} s on ({cost['on'] / cost['off'] - 1:+.1%}); median "
                  f"of the rounds' on - off {cost['paired'] * 1000:+.1f} ms ({cost['paired'] / cost['off']:+.1%} "
                  f"of p50); {cost['logged']} answers logged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
