#!/usr/bin/python3
"""Cohort export: `tributary cohorts export` over loopback against `cp` of the same blobs, and the
server's memory while it exports (issue 11, "Benchmark"; docs/BENCHMARKS.md, "Cohort export").

1. Starts a real tributary-server (embedded PostgreSQL, its own data directory under --work-dir,
   --harmonization-workers 2). Centre `north` uploads the reference MR sets dcm_qa, dcm_qa_nih and
   dcm_qa_deident (--complete); centre `south` a synthetic second site of dcm_qa_deident
   (tests/e2e/make_second_site.py: other pixel values, patient and UIDs). `jobs wait`, a researcher
   token, `cohorts create` with no filter. While `cohorts show ID --json` says fewer than
   --min-bytes, one more synthetic site (another centre, another gain and offset) is uploaded and
   harmonized and a new cohort made.
2. The server is stopped and started again on the same data directory (unless --same-server), so
   that its RSS during the export is the export's and not what the harmonization workers kept.
3. Under the build lock (--lock; taken for the timed part only), --rounds rounds of:
     export cold  blobs evicted from the page cache (sync, posix_fadvise DONTNEED on each blob),
                  `tributary cohorts export ID --out FRESH --json`, wall time fork to exit
     cp cold      blobs evicted, one `cp BLOB... FRESH/` of exactly the cohort's blob files, wall
                  time; then `sync`, timed apart (cp does not fsync; the CLI fsyncs every file)
     export warm  the same with the blobs in the page cache (they are after `cp cold`)
     cp warm
   Page-cache residency of the blobs (mincore, as fincore does) is measured before each row.
   The server's VmRSS (and the CLI's) is sampled from /proc every --sample-ms during every row.
4. Prints the figures; exits 0 whatever they are (a benchmark, not a test). Stops the server
   (SIGTERM: it stops its PostgreSQL) and deletes everything it made, unless --keep.
"""

import argparse
import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import mmap
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(SOURCE), "shared", "data", "dicom")
PAGE = os.sysconf("SC_PAGE_SIZE")
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
MAP_FAILED = ctypes.c_void_p(-1).value


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mib(kb):
    return "-" if kb is None else f"{kb / 1024:.1f}"


# --- page cache --------------------------------------------------------------------------------


def resident_bytes(paths):
    """Bytes of `paths` in the page cache, as fincore(1) counts them (mincore on a shared mapping)."""
    total = 0
    for p in paths:
        size = os.path.getsize(p)
        if size == 0:
            continue
        fd = os.open(p, os.O_RDONLY)
        try:
            address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            if address is None or address == MAP_FAILED:
                continue
            try:
                vec = (ctypes.c_ubyte * ((size + PAGE - 1) // PAGE))()
                if libc.mincore(address, size, vec) == 0:
                    total += sum(v & 1 for v in vec) * PAGE
            finally:
                libc.munmap(address, size)
        finally:
            os.close(fd)
    return total


def evict(paths):
    """Drops these files' clean pages from the page cache (nothing else on the machine)."""
    subprocess.run(["sync"], check=True)
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# --- the server --------------------------------------------------------------------------------


class Server:
    def __init__(self, bin_dir, data_dir, log_path):
        self.bin_dir = bin_dir
        self.data_dir = data_dir
        self.address = f"127.0.0.1:{free_port()}"
        self.log = open(log_path, "a")
        self.process = subprocess.Popen(
            [os.path.join(bin_dir, "tributary-server"), "--data-dir", data_dir, "--listen", self.address,
             "--harmonization-workers", "2"], stdout=self.log, stderr=subprocess.STDOUT)
        self.operator_file = os.path.join(data_dir, "operator.token")
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("tributary-server exited; see " + log_path)
            if os.path.exists(self.operator_file) and self.cli(
                    ["centres", "list", "--token-file", self.operator_file], check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("tributary-server did not start; see " + log_path)

    @property
    def pid(self):
        return self.process.pid

    def command(self, args):
        # Server commands take their options after the subcommand's words: `cohorts export ID --server ...`.
        words = 1 if args[0] == "upload" else 2
        return [os.path.join(self.bin_dir, "tributary")] + args[:words] + ["--server", self.address] + args[words:]

    def cli(self, args, check=True):
        result = subprocess.run(self.command(args), capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"tributary {' '.join(args)}: exit {result.returncode}\n{result.stdout}{result.stderr}")
        return result

    def json(self, args):
        return json.loads(self.cli(args + ["--json"]).stdout)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=120)
        self.log.close()


def token_file(path, secret):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(secret + "\n")
    return path


def upload(server, directory, centre_token):
    report = server.json(["upload", directory, "--complete", "--token-file", centre_token])
    log(f"  uploaded {directory}: {report['summary']}")
    return report["summary"].get("STORED", 0)


def build_cohort(server, root, min_bytes, researcher):
    operator = ["--token-file", server.operator_file]
    north = token_file(os.path.join(root, "north.token"), server.cli(["centres", "add", "north"] + operator).stdout.strip().splitlines()[-1])
    stored = 0
    for name in ("dcm_qa", "dcm_qa_nih", "dcm_qa_deident"):
        stored += upload(server, os.path.join(DATA, name, "In"), north)
    sites = 0

    def add_site(name, gain, offset):
        site_dir = os.path.join(root, "sites", name)
        subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "tests", "e2e", "make_second_site.py"),
                        os.path.join(DATA, "dcm_qa_deident", "In"), site_dir, name, str(gain), str(offset)],
                       check=True, capture_output=True)
        secret = server.cli(["centres", "add", name] + operator).stdout.strip().splitlines()[-1]
        count = upload(server, site_dir, token_file(os.path.join(root, name + ".token"), secret))
        shutil.rmtree(site_dir)
        return count

    stored += add_site("south", 1.7, 60)
    sites += 1
    cohort = None
    while True:
        start = time.perf_counter()
        wait = server.cli(["jobs", "wait"] + operator, check=False)
        log(f"  jobs wait ({time.perf_counter() - start:.0f} s): {wait.stdout.strip()}")
        cohort = server.json(["cohorts", "create", "--name", f"export bench {sites}", "--token-file", researcher])
        log(f"  cohort {cohort['id']}: {cohort['volumes']} volumes, {cohort['files']} files, "
            f"{cohort['bytes'] / 1e9:.3f} GB")
        if cohort["bytes"] >= min_bytes or sites >= 200:
            break
        sites += 1
        stored += add_site(f"site{sites}", 1.0 + 0.05 * sites, 10 * sites)
    return cohort, stored, sites


# --- the measurements --------------------------------------------------------------------------


class Sampler:
    """Samples VmRSS of the given pids every `period` seconds on a thread."""

    def __init__(self, pids, period):
        self.pids = dict(pids)
        self.period = period
        self.peak = {name: None for name in self.pids}
        self.samples = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.done.is_set():
            for name, pid in self.pids.items():
                kb = proc_kb(pid, "VmRSS")
                if kb is not None and (self.peak[name] is None or kb > self.peak[name]):
                    self.peak[name] = kb
            self.samples += 1
            self.done.wait(self.period)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def timed(argv, server, period, with_cli=True):
    """Runs argv; returns wall seconds, its stdout, wait4's ru_maxrss (KiB) and the sampled peaks."""
    before = {"rss": proc_kb(server.pid, "VmRSS"), "hwm": proc_kb(server.pid, "VmHWM")}
    server_cpu = cpu_seconds(server.pid)
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pids = {"server": server.pid}
    if with_cli:
        pids["cli"] = process.pid  # `tributary` execs tributary-client: the same pid
    with Sampler(pids, period) as sampler:
        out_reader = threading.Thread(target=lambda: setattr(process, "out", process.stdout.read()))
        out_reader.start()
        err = process.stderr.read()
        out_reader.join()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    server_cpu = cpu_seconds(server.pid) - server_cpu
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} exit {process.returncode}: {err.decode(errors='replace')[-2000:]}")
    return {"seconds": seconds, "out": process.out.decode(), "maxrss_kb": usage.ru_maxrss,
            "server_rss_before": before["rss"], "server_hwm_before": before["hwm"],
            "server_rss_peak": sampler.peak["server"], "cli_rss_peak": sampler.peak.get("cli"),
            "server_rss_after": proc_kb(server.pid, "VmRSS"), "server_hwm_after": proc_kb(server.pid, "VmHWM"),
            "samples": sampler.samples, "server_cpu": server_cpu, "child_cpu": usage.ru_utime + usage.ru_stime}


def timed_sync():
    start = time.perf_counter()
    subprocess.run(["sync"], check=True)
    return time.perf_counter() - start


def measure_export(server, cohort_id, researcher, out, period):
    run = timed(server.command(["cohorts", "export", str(cohort_id), "--out", out, "--json", "--token-file",
                                researcher]), server, period)
    report = json.loads(run["out"])
    if report["files_sent"] != report["files"] or report["files_skipped"] != 0:
        raise RuntimeError(f"export did not send every file: {report}")
    run["bytes"] = report["bytes_received"]
    run["cli_seconds"] = report["seconds"]
    run["sync_seconds"] = timed_sync()
    return run


def measure_cp(server, blobs, out, period):
    os.makedirs(out)
    run = timed(["cp", "--"] + blobs + [out + "/"], server, period, with_cli=False)
    run["bytes"] = sum(os.path.getsize(p) for p in blobs)
    copied = sum(os.path.getsize(os.path.join(out, name)) for name in os.listdir(out))
    if copied != run["bytes"]:
        raise RuntimeError(f"cp copied {copied} bytes of {run['bytes']}")
    run["sync_seconds"] = timed_sync()
    return run


def tree_bytes(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


@contextlib.contextmanager
def build_lock(path):
    if not path:
        yield
        return
    with open(path, "a") as f:
        log(f"waiting for {path}")
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-bytes", type=float, default=1e9, help="smallest cohort to export (default 1e9)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the four rows (default 3)")
    parser.add_argument("--sample-ms", type=float, default=20, help="RSS sampling period (default 20 ms)")
    parser.add_argument("--bin-dir", default=os.path.join(SOURCE, "build", "bin"))
    parser.add_argument("--work-dir", default="/var/tmp", help="scratch on the disk to measure (about 2x the cohort)")
    parser.add_argument("--out-dir", default=None,
                        help="where the exports and copies go (default: the scratch folder on --work-dir); "
                             "/dev/shm measures without the disk's writes")
    parser.add_argument("--lock", default="/tmp/tributary-build.lock",
                        help="flock(2) this file around the timed part ('' for none)")
    parser.add_argument("--same-server", action="store_true",
                        help="export from the server that harmonized, without restarting it")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and leave the server running")
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin_dir)
    period = args.sample_ms / 1000

    root = tempfile.mkdtemp(prefix="tributary-export-bench-", dir=args.work_dir)
    os.chmod(root, 0o711)  # the embedded cluster runs as `postgres` and must pass through
    data_dir = os.path.join(root, "data")
    out_root = tempfile.mkdtemp(prefix="tributary-export-bench-out-", dir=args.out_dir) if args.out_dir else root
    server_log = os.path.join(root, "server.log")
    server = None
    try:
        log(f"scratch {root}; starting tributary-server")
        build_start = time.perf_counter()
        server = Server(bin_dir, data_dir, server_log)
        secret = server.json(["tokens", "create", "--role", "researcher", "--name", "export-bench",
                              "--token-file", server.operator_file])["secret"]
        researcher = token_file(os.path.join(root, "researcher.token"), secret)
        cohort, stored, sites = build_cohort(server, root, args.min_bytes, researcher)
        build_seconds = time.perf_counter() - build_start
        shown = server.json(["cohorts", "show", str(cohort["id"]), "--token-file", researcher])
        files = shown["file_list"]
        by_digest = {}
        for f in files:
            by_digest[f["sha256"]] = f["size"]
        blobs = []
        for digest, size in sorted(by_digest.items()):
            path = os.path.join(data_dir, "blobs", "sha256", digest[:2], digest[2:4], digest)
            if os.path.getsize(path) != size:
                raise RuntimeError(f"blob {path} is not {size} bytes")
            blobs.append(path)
        builder = {"rss": proc_kb(server.pid, "VmRSS"), "hwm": proc_kb(server.pid, "VmHWM")}
        log(f"cohort {shown['id']}: {shown['bytes']} bytes in {len(files)} files, {len(blobs)} distinct blobs "
            f"({sum(by_digest.values())} bytes); harmonizing server VmRSS {mib(builder['rss'])} MiB, "
            f"VmHWM {mib(builder['hwm'])} MiB")
        if not args.same_server:
            server.stop()
            server = Server(bin_dir, data_dir, server_log)
        time.sleep(2)  # the restarted server's startup settles
        fresh = {"rss": proc_kb(server.pid, "VmRSS"), "hwm": proc_kb(server.pid, "VmHWM")}

        rows = {"export cold": [], "cp cold": [], "export warm": [], "cp warm": []}
        with build_lock(args.lock):
            load_start = open("/proc/loadavg").read().split()[0]
            subprocess.run(["sync"], check=True)
            for r in range(args.rounds):
                for label in rows:
                    out = os.path.join(out_root, f"out-{label.replace(' ', '-')}-{r + 1}")
                    if label.endswith("cold"):
                        evict(blobs)
                    cached = resident_bytes(blobs)
                    log(f"round {r + 1}/{args.rounds}: {label} ({cached / 1e6:.0f} MB of the blobs cached)")
                    if label.startswith("export"):
                        run = measure_export(server, shown["id"], researcher, out, period)
                        if tree_bytes(out) != shown["bytes"]:
                            raise RuntimeError(f"{out} holds {tree_bytes(out)} bytes, not {shown['bytes']}")
                    else:
                        run = measure_cp(server, blobs, out, period)
                    run["cached"] = cached
                    rows[label].append(run)
                    shutil.rmtree(out)
                    subprocess.run(["sync"], check=True)
            load_end = open("/proc/loadavg").read().split()[0]

        # --- report ---
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                   "?")
        print(f"Cohort export: cohort {shown['id']}, {shown['volumes']} volumes from {shown['centres']} centres, "
              f"{len(files)} files, {shown['bytes'] / 1e6:.1f} MB ({len(blobs)} distinct blobs, "
              f"{sum(by_digest.values()) / 1e6:.1f} MB)")
        print(f"  built in {build_seconds:.0f} s: {stored} instances stored (reference sets + {sites} synthetic "
              f"site(s)), harmonized by --harmonization-workers 2")
        print(f"  machine: {os.cpu_count()} CPUs ({cpu}), load average {load_start} at start of the timed part, "
              f"{load_end} at end; scratch {root}; outputs under {out_root}")
        print(f"  MB = 1e6 bytes; wall time fork to exit; RSS sampled every {args.sample_ms:g} ms")
        print()
        header = (f"  {'row':12} {'round':>5} {'cached MB':>9} {'wall s':>7} {'MB/s':>7} {'+sync s':>7} "
                  f"{'MB/s w/ sync':>12} {'CLI s':>6} {'srv RSS before':>14} {'srv RSS max':>11} "
                  f"{'child maxrss':>12} {'srv CPU s':>9} {'child CPU s':>11}")
        print(header)
        print("  " + "-" * (len(header) - 2))
        medians = {}
        for label, runs in rows.items():
            for k, run in enumerate(runs, 1):
                mbps = run["bytes"] / 1e6 / run["seconds"]
                synced = run["bytes"] / 1e6 / (run["seconds"] + run["sync_seconds"])
                cli = f"{run['cli_seconds']:6.2f}" if "cli_seconds" in run else f"{'-':>6}"
                cli_rss = mib(run["maxrss_kb"])
                print(f"  {label:12} {k:5d} {run['cached'] / 1e6:9.0f} {run['seconds']:7.2f} {mbps:7.1f} "
                      f"{run['sync_seconds']:7.2f} {synced:12.1f} {cli} {mib(run['server_rss_before']):>10} MiB "
                      f"{mib(run['server_rss_peak']):>7} MiB {cli_rss:>8} MiB {run['server_cpu']:9.2f} "
                      f"{run['child_cpu']:11.2f}")
            medians[label] = {
                "mbps": statistics.median(r["bytes"] / 1e6 / r["seconds"] for r in runs),
                "synced": statistics.median(r["bytes"] / 1e6 / (r["seconds"] + r["sync_seconds"]) for r in runs),
            }
        print()
        print(f"  {'median':12} {'MB/s':>7} {'MB/s w/ sync':>12}")
        for label, m in medians.items():
            print(f"  {label:12} {m['mbps']:7.1f} {m['synced']:12.1f}")

        exports = rows["export cold"] + rows["export warm"]
        peak = max(r["server_rss_peak"] for r in exports)
        before = min(r["server_rss_before"] for r in exports)
        cli_peak = max(r["maxrss_kb"] for r in exports)
        print()
        print(f"  server (pid {server.pid}): VmRSS {mib(fresh['rss'])} MiB after start; before the exports "
              f"{mib(before)}..{mib(max(r['server_rss_before'] for r in exports))} MiB; max sampled during them "
              f"{mib(peak)} MiB ({peak * 1024 / 1e6:.1f} MB); VmHWM {mib(exports[0]['server_hwm_before'])} MiB "
              f"before the first, {mib(exports[-1]['server_hwm_after'])} MiB after the last (whole life)")
        print(f"  the harmonizing server before its restart: VmRSS {mib(builder['rss'])} MiB, VmHWM "
              f"{mib(builder['hwm'])} MiB" + ("" if not args.same_server else " (the same process: --same-server)"))
        print(f"  CLI (tributary -> tributary-client) peak RSS {mib(cli_peak)} MiB (wait4 ru_maxrss)")
        print()
        print("  targets:")
        for kind in ("cold", "warm"):
            e, c = medians[f"export {kind}"], medians[f"cp {kind}"]
            print(f"    export {kind} >= 70% of cp {kind}       : {e['mbps']:.0f} vs {c['mbps']:.0f} MB/s "
                  f"({100 * e['mbps'] / c['mbps']:.0f}%)  {'met' if e['mbps'] >= 0.7 * c['mbps'] else 'MISSED'}")
            print(f"    export {kind} >= 70% of cp+sync {kind}  : {e['mbps']:.0f} vs {c['synced']:.0f} MB/s "
                  f"({100 * e['mbps'] / c['synced']:.0f}%)  {'met' if e['mbps'] >= 0.7 * c['synced'] else 'MISSED'}")
        print(f"    server RSS during export < 200 MB : {peak * 1024 / 1e6:.1f} MB  "
              f"{'met' if peak * 1024 < 200e6 else 'MISSED'}")
    finally:
        if server is not None and not args.keep:
            server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
            if out_root != root:
                shutil.rmtree(out_root, ignore_errors=True)
        else:
            log(f"kept {root}" + (f"; server pid {server.pid} at {server.address}" if server else ""))


if __name__ == "__main__":
    main()
