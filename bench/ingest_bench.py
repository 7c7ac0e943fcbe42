#!/usr/bin/python3
"""Ingest throughput: tributary-server + `tributary upload` against Orthanc and the disk's own limit.

One run, one set of N distinct 512 KiB CT-like instances (made by bench_deidentify --dir), measured:
  disk      the same bytes written file by file: temp file, write, fsync, rename (1 and 4 writers)
  orthanc   Debian's Orthanc on loopback (SyncStorageArea true, StorageCompression false), the files
            POSTed to /instances over keep-alive connections (1 and 4 concurrent clients)
  tributary tributary-server --data-dir (embedded PostgreSQL, durable defaults) and
            `tributary upload --parallel 1|4`, a fresh data directory each time
and then the server's peak RSS while a ~1 GiB study (--study-files instances) streams in on one stream.
For the Orthanc and tributary rows it also measures CPU time per stored file from /proc/PID/stat
(utime + stime, before and after the upload): tributary-server, its embedded PostgreSQL (the
postmaster with the children it reaped, and every live backend), the `tributary upload` client, and
Orthanc.
Outputs stay until the end of the run (deleting thousands of files just before a row slows the ext4
inode allocation of the next one), so the scratch folder needs about 4 GB per round; --keep leaves it
after the run too (on ext4 without a journal, wait about 6 minutes after deleting it before the next
run). Before every row it times a fixed piece of CPU work (the "machine probe"), printed per round.
Prints one table (see docs/BENCHMARKS.md, "Ingest throughput").
"""

import argparse
import collections
import hashlib
import http.client
import json
import resource
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


def log(message):
    print(message, file=sys.stderr, flush=True)


def sync_disk():
    subprocess.run(["sync"], check=True)
    time.sleep(1)


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(ppid, utime + stime, cutime + cstime) of a process, in seconds; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    # fields[0] is state (field 3); utime, stime, cutime, cstime are fields 14-17
    return (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
            (int(fields[13]) + int(fields[14])) / CLOCK_TICKS)


def process_cpu(pid):
    stat = proc_stat(pid)
    return stat[1] if stat else 0.0


def cluster_cpu(postmaster):
    """CPU seconds of a PostgreSQL cluster: the postmaster's own and its reaped children's, plus
    every live child's (backends, checkpointer, WAL writer...). A backend that exits between two
    readings moves from the second term to the first, so differences stay right."""
    stat = proc_stat(postmaster)
    if stat is None:
        return 0.0
    total = stat[1] + stat[2]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            child = proc_stat(int(entry))
            if child and child[0] == postmaster:
                total += child[1]
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_inputs(bin_dir, directory, count):
    os.makedirs(directory, exist_ok=True)
    subprocess.run([os.path.join(bin_dir, "bench_deidentify"), f"--files={count}", "--reps=1", "--threads=1",
                    f"--dir={directory}"], check=True, stdout=subprocess.DEVNULL)
    return sorted(os.path.join(directory, name) for name in os.listdir(directory) if name.endswith(".dcm"))


def run_parallel(items, workers, work):
    """Runs work(worker_index, sublist) on `workers` threads over a shared queue; returns seconds."""
    lock = threading.Lock()
    position = [0]
    errors = []

    def next_item():
        with lock:
            if position[0] >= len(items):
                return None
            position[0] += 1
            return items[position[0] - 1]

    def loop(index):
        try:
            work(index, next_item)
        except Exception as error:  # reported after the join
            errors.append(error)

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return seconds


# --- the disk's own limit ----------------------------------------------------------------------


def disk_limit(paths, writers, root):
    out = tempfile.mkdtemp(prefix="disk-", dir=root)
    contents = {}
    for p in paths:
        with open(p, "rb") as f:
            contents[p] = f.read()

    def work(index, next_item):
        k = 0
        while (p := next_item()) is not None:
            temp = os.path.join(out, f"{index}.{k}.tmp")
            k += 1
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            data = contents[p]
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            os.close(fd)
            os.rename(temp, os.path.join(out, os.path.basename(p)))

    seconds = run_parallel(paths, writers, work)
    return {"seconds": seconds, "files": len(paths), "rss_mb": None}


# --- Orthanc -----------------------------------------------------------------------------------


class Orthanc:
    def __init__(self, root):
        self.dir = tempfile.mkdtemp(prefix="orthanc-", dir=root)
        self.port = free_port()
        config = {
            "Name": "ingest-bench",
            "StorageDirectory": os.path.join(self.dir, "storage"),
            "IndexDirectory": os.path.join(self.dir, "index"),
            "StorageCompression": False,
            "SyncStorageArea": True,
            "HttpPort": self.port,
            "HttpServerEnabled": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "KeepAlive": True,
            "TcpNoDelay": True,
            "DicomServerEnabled": False,
            "Plugins": [],
            "SaveJobs": False,
        }
        path = os.path.join(self.dir, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.log = open(os.path.join(self.dir, "orthanc.log"), "w")
        self.process = subprocess.Popen(["Orthanc", path], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/system")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("Orthanc did not start; see " + self.log.name)

    def stop(self):
        rss = peak_rss_mb(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()
        return rss


def orthanc_upload(paths, clients, root):
    orthanc = Orthanc(root)
    stored = [0]
    lock = threading.Lock()

    def work(index, next_item):
        connection = http.client.HTTPConnection("127.0.0.1", orthanc.port, timeout=120)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while (p := next_item()) is not None:
            with open(p, "rb") as f:
                body = f.read()
            connection.request("POST", "/instances", body=body,
                               headers={"Content-Type": "application/dicom", "Connection": "keep-alive"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200 or json.loads(answer).get("Status") != "Success":
                raise RuntimeError(f"Orthanc answered {response.status} for {p}: {answer[:200]!r}")
            with lock:
                stored[0] += 1
        connection.close()

    cpu_before = process_cpu(orthanc.process.pid)
    try:
        seconds = run_parallel(paths, clients, work)
        cpu = {"server": process_cpu(orthanc.process.pid) - cpu_before}
    finally:
        rss = orthanc.stop()
    return {"seconds": seconds, "files": stored[0], "rss_mb": rss, "cpu": cpu}


# --- tributary ---------------------------------------------------------------------------------


class Tributary:
    def __init__(self, bin_dir, root, extra_args=()):
        self.bin_dir = bin_dir
        self.dir = tempfile.mkdtemp(prefix="tributary-", dir=root)
        os.chmod(self.dir, 0o711)  # the embedded cluster runs as `postgres` and must pass through
        self.address = f"127.0.0.1:{free_port()}"
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.process = subprocess.Popen(
            [os.path.join(bin_dir, "tributary-server"), "--data-dir", os.path.join(self.dir, "data"), "--listen",
             self.address] + list(extra_args), stdout=self.log, stderr=subprocess.STDOUT)
        token_file = os.path.join(self.dir, "data", "operator.token")
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("tributary-server exited; see " + self.log.name)
            if os.path.exists(token_file):
                self.operator = open(token_file).read().strip()
                if self.cli(["centres", "list", "--token", self.operator], check=False).returncode == 0:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("tributary-server did not start; see " + self.log.name)
        added = self.cli(["centres", "add", "bench", "--token", self.operator])
        self.token = added.stdout.strip().splitlines()[-1]
        with open(os.path.join(self.dir, "data", "postgres", "pgdata", "postmaster.pid")) as f:
            self.postmaster = int(f.readline())

    def cpu(self):
        return {"server": process_cpu(self.process.pid), "postgres": cluster_cpu(self.postmaster)}

    def cli(self, args, check=True):
        return subprocess.run([os.path.join(self.bin_dir, "tributary")] + args[:2] + ["--server", self.address] +
                              args[2:], capture_output=True, text=True, check=check)

    def stop(self):
        rss = peak_rss_mb(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)
        self.log.close()
        return rss


def tributary_upload(bin_dir, paths, streams, root, input_dir, server_args=()):
    server = Tributary(bin_dir, root, server_args)
    try:
        before = server.cpu()
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = subprocess.Popen(
            [os.path.join(bin_dir, "tributary"), "upload", input_dir, "--server", server.address, "--token",
             server.token, "--parallel", str(streams), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        stdout, stderr = client.communicate()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the client is the one child reaped since
        after = server.cpu()
        cpu = {key: after[key] - before[key] for key in before}
        cpu["client"] = usage.ru_utime + usage.ru_stime - reaped.ru_utime - reaped.ru_stime
        result = subprocess.CompletedProcess(client.args, client.returncode, stdout, stderr)
        report = json.loads(result.stdout)
        stored = report["summary"].get("STORED", 0)
        if stored != len(paths):
            reasons = collections.Counter((f["outcome"], f.get("reason", "")[:200]) for f in report["files"]
                                          if f["outcome"] != "STORED")
            with open(server.log.name) as f:
                server_log = f.read()[-4000:]
            raise RuntimeError(f"tributary stored {stored} of {len(paths)}: {report['summary']}\n"
                               f"{reasons.most_common(5)}\n{result.stderr}\nserver log:\n{server_log}")
    finally:
        rss = server.stop()
    return {"seconds": report["seconds"], "files": stored, "rss_mb": rss, "cpu": cpu}


PROBE_BLOCK = os.urandom(1 << 20) * 64  # 64 MiB


def machine_probe():
    """CPU ms of a fixed piece of work (SHA-256 of 128 MiB and eight 64 MiB copies) on this process's
    core, just before a row: on this shared VM the same binary's CPU per file moves by up to 2x from one
    minute to the next, and this shows which minutes were slow."""
    start = time.process_time()
    for _ in range(2):
        hashlib.sha256(PROBE_BLOCK).digest()
    for _ in range(8):
        bytearray(PROBE_BLOCK)
    return 1000 * (time.process_time() - start)


# --- main --------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000, help="distinct 512 KiB instances (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per row; the median is shown (3)")
    parser.add_argument("--study-files", type=int, default=2000,
                        help="instances of the one-stream peak-RSS study (default 2000, ~1 GiB; 0 skips)")
    parser.add_argument("--bin-dir", default=os.path.join(HERE, "..", "build", "bin"),
                        help="where tributary, tributary-server and bench_deidentify are")
    parser.add_argument("--work-dir", default=None,
                        help="scratch folder on the filesystem to measure (default: a new folder under /var/tmp)")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra tributary-server argument (repeatable), e.g. --server-arg=--workers=8")
    parser.add_argument("--keep", action="store_true",
                        help="leave the scratch folder (deleting it slows the next run's inode allocation)")
    parser.add_argument("--only", default="disk,orthanc,tributary", help="comma-separated subset to run")
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin_dir)
    only = set(args.only.split(","))

    load_at_start = open("/proc/loadavg").read().split()[0]
    root = tempfile.mkdtemp(prefix="tributary-ingest-bench-", dir=args.work_dir or "/var/tmp")
    os.chmod(root, 0o711)
    try:
        log(f"generating {args.files} instances under {root}")
        input_dir = os.path.join(root, "in")
        paths = make_inputs(bin_dir, input_dir, args.files)
        total_bytes = sum(os.path.getsize(p) for p in paths)
        sync_disk()

        rows = []
        plan = []
        for n in (1, 4):
            if "disk" in only:
                plan.append((f"disk: write+fsync+rename, {n} writer{'s' if n > 1 else ''}", "disk",
                             lambda n=n: disk_limit(paths, n, root)))
        for n in (1, 4):
            if "orthanc" in only:
                plan.append((f"Orthanc: POST /instances, {n} client{'s' if n > 1 else ''}", "orthanc",
                             lambda n=n: orthanc_upload(paths, n, root)))
        for n in (1, 4):
            if "tributary" in only:
                plan.append((f"tributary upload --parallel {n}", "tributary",
                             lambda n=n: tributary_upload(bin_dir, paths, n, root, input_dir, args.server_arg)))
        results = {label: [] for label, _, _ in plan}
        # Rounds interleave the rows so that a slow spell of the shared disk hits all of them alike.
        for r in range(args.rounds):
            for label, _, measure in plan:
                log(f"round {r + 1}/{args.rounds}: {label}")
                probe = machine_probe()
                run = measure()
                run["probe_ms"] = probe
                results[label].append(run)
                sync_disk()
        for label, kind, _ in plan:
            runs = results[label]
            rates = [run["files"] / run["seconds"] for run in runs]
            rate = statistics.median(rates)
            rss = [run["rss_mb"] for run in runs if run["rss_mb"] is not None]
            # CPU ms per stored file, median over the rounds, for each process group measured
            cpu = {key: statistics.median(1000 * run["cpu"][key] / run["files"] for run in runs)
                   for key in (runs[0].get("cpu") or {})}
            rows.append((label, rate, rate * total_bytes / len(paths) / 1e6, min(rates), max(rates),
                         max(rss) if rss else None, cpu))

        study = None
        if args.study_files > 0 and "tributary" in only:
            study_dir = os.path.join(root, "study")
            log(f"generating a {args.study_files}-instance study for the peak-RSS run")
            study_paths = make_inputs(bin_dir, study_dir, args.study_files)
            study_bytes = sum(os.path.getsize(p) for p in study_paths)
            sync_disk()
            run = tributary_upload(bin_dir, study_paths, 1, root, study_dir, args.server_arg)
            study = (len(study_paths), study_bytes, run)

        print(f"Ingest throughput: {len(paths)} distinct CT instances, {total_bytes / len(paths) / 1024:.1f} KiB "
              f"each, {total_bytes / 1e6:.0f} MB; median of {args.rounds} round(s)")
        print(f"  machine: {os.cpu_count()} CPUs, load average {load_at_start} at start, "
              f"{open('/proc/loadavg').read().split()[0]} at end; "
              f"scratch {root}")
        print()
        print(f"  {'':48} {'inst/s':>8} {'MB/s':>8} {'min-max inst/s':>15} {'peak RSS MB':>12}"
              f" {'CPU ms/file: server':>20} {'postgres':>9} {'srv+pg':>7} {'client':>7}")
        for label, rate, mbps, low, high, rss, cpu in rows:
            rss_text = f"{rss:12.0f}" if rss is not None else f"{'-':>12}"
            ms = lambda key, width: f"{cpu[key]:{width}.2f}" if key in cpu else f"{'-':>{width}}"
            both = f"{cpu['server'] + cpu['postgres']:7.2f}" if "postgres" in cpu else f"{'-':>7}"
            print(f"  {label:48} {rate:8.0f} {mbps:8.0f} {f'{low:.0f}-{high:.0f}':>15} {rss_text}"
                  f" {ms('server', 20)} {ms('postgres', 9)} {both} {ms('client', 7)}")
        if study:
            count, size, run = study
            print(f"\n  1 GiB study, one stream: {count} instances, {size / 2**30:.2f} GiB in {run['seconds']:.1f} s "
                  f"({count / run['seconds']:.0f} inst/s); tributary-server peak RSS {run['rss_mb']:.0f} MB")

        print("\n  per round: machine probe CPU ms (lower is a faster minute), inst/s, CPU ms/file")
        for label, _, _ in plan:
            cells = []
            for run in results[label]:
                cell = f"probe {run['probe_ms']:.0f}, {run['files'] / run['seconds']:.0f}/s"
                if run.get("cpu"):
                    per = {key: 1000 * value / run["files"] for key, value in run["cpu"].items()}
                    if "postgres" in per:
                        cell += f", srv+pg {per['server'] + per['postgres']:.2f}"
                    elif "server" in per:
                        cell += f", server {per['server']:.2f}"
                cells.append(cell)
            print(f"    {label:44} " + " | ".join(cells))

        by_label = {row[0]: row[1] for row in rows}
        get = lambda prefix: next((v for k, v in by_label.items() if k.startswith(prefix)), None)
        t1, t4 = get("tributary upload --parallel 1"), get("tributary upload --parallel 4")
        o1, o4 = get("Orthanc: POST /instances, 1"), get("Orthanc: POST /instances, 4")
        d4 = get("disk: write+fsync+rename, 4")
        cpu_of = {row[0]: row[6] for row in rows}
        print()
        for n in (1, 4):
            cpu = cpu_of.get(f"tributary upload --parallel {n}")
            if cpu:
                total = cpu["server"] + cpu["postgres"]
                print(f"  server + PostgreSQL CPU, {n} stream{'s' if n > 1 else ''}: {total:.2f} ms per stored file "
                      f"(target <= 2.0)  {'met' if total <= 2.0 else 'MISSED'}")
        if t1 is not None and t4 is not None:
            print(f"  4 streams >= 1 stream: {t4:.0f} vs {t1:.0f}  {'met' if t4 >= t1 else 'MISSED'}")
        if None not in (t1, t4, o1, o4, d4):
            trss = max(row[5] for row in rows if row[0].startswith("tributary"))
            print("\n  targets:")
            print(f"    1 stream  >= 2x Orthanc 1 client : {t1:.0f} vs {2 * o1:.0f}  {'met' if t1 >= 2 * o1 else 'MISSED'}")
            print(f"    4 streams >= Orthanc 4 clients   : {t4:.0f} vs {o4:.0f}  {'met' if t4 >= o4 else 'MISSED'}")
            print(f"    4 streams >= 80% of disk (4 w.)  : {t4:.0f} vs {0.8 * d4:.0f} ({100 * t4 / d4:.0f}%)  "
                  f"{'met' if t4 >= 0.8 * d4 else 'MISSED'}")
            peak = max(trss, study[2]["rss_mb"]) if study else trss
            print(f"    server peak RSS < 300 MB         : {peak:.0f} MB  {'met' if peak < 300 else 'MISSED'}")
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            # ext4 without a journal skips inodes freed in the last 60 s (360 s while their inode
            # table block is dirty) when it allocates new ones (recently_deleted() in
            # fs/ext4/ialloc.c): right after these deletions every file created costs more.
            log("deleted the scratch folder; on ext4 without a journal wait about 6 minutes before "
                "measuring again (see docs/BENCHMARKS.md, \"Ingest throughput\")")


if __name__ == "__main__":
    main()
