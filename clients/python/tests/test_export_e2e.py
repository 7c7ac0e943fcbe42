"""tributary_client against a real tributary-server (its own embedded PostgreSQL, one
harmonization worker): two centres upload synthetic MR series written with pydicom (the second
site's scanner answers with another gain and offset, and it also sends a copy of one of the first
site's studies), the operator waits for harmonization with the CLI, and a researcher, through this
package only, queries, makes cohorts, exports one, reads every NIfTI with nibabel, checks
manifest.sha256 with sha256sum -c, and exports again to see only damaged or missing files re-sent.

Run by ctest (python_client_export_e2e, label e2e), which sets PYTHONPATH to the built package and
TRIBUTARY_CLI / TRIBUTARY_SERVER_BIN / TRIBUTARY_EXAMPLES to the binaries and the examples folder.
"""

import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import grpc
import nibabel
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tributary_client import Client, RpcError

CLI = os.environ.get("TRIBUTARY_CLI", "")
SERVER = os.environ.get("TRIBUTARY_SERVER_BIN", "")
EXAMPLES = os.environ.get("TRIBUTARY_EXAMPLES", "")
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SLICES, ROWS, COLUMNS = 16, 32, 32


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_environment():
    """This process's environment without the variables the CLI and the client read."""
    env = dict(os.environ)
    for name in ("TRIBUTARY_TOKEN", "TRIBUTARY_SERVER", "TRIBUTARY_TLS_CA", "TRIBUTARY_TLS_CERT",
                 "TRIBUTARY_TLS_KEY"):
        env.pop(name, None)
    return env


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


def phantom(gain, offset, seed):
    """A 16x32x32 head-like phantom: an ellipsoid of tissue with a brighter core, some noise."""
    z, y, x = np.meshgrid(np.arange(SLICES), np.arange(ROWS), np.arange(COLUMNS), indexing="ij")
    r = ((x - 15.5) / 12) ** 2 + ((y - 15.5) / 13) ** 2 + ((z - 7.5) / 7) ** 2
    tissue = np.where(r < 1, 400.0, 0.0) + np.where(r < 0.35, 300.0, 0.0)
    noise = np.random.default_rng(seed).normal(0, 12, tissue.shape)
    return np.clip(gain * (tissue + noise) + offset, 0, 4095).astype(np.uint16)


def write_series(folder, patient_id, patient_sex, age, manufacturer, voxels, study_uid=None):
    """One MR study of one 3D series (axial slices, 0.9 x 0.9 mm, 2 mm apart), a file per slice;
    returns the study's UID."""
    os.makedirs(folder, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    frame_uid = generate_uid()
    for k in range(SLICES):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.SOPClassUID = MR_IMAGE_STORAGE
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientName = f"Test^{patient_id}"
        ds.PatientID = patient_id
        ds.PatientSex = patient_sex
        ds.PatientAge = f"{age:03d}Y"
        ds.PatientBirthDate = f"{2024 - age}0101"
        ds.StudyDate = "20240315"
        ds.StudyTime = "101500"
        ds.SeriesDate = "20240315"
        ds.AccessionNumber = "A" + patient_id
        ds.StudyID = "1"
        ds.SeriesNumber = 3
        ds.InstanceNumber = k + 1
        ds.Modality = "MR"
        ds.Manufacturer = manufacturer
        ds.BodyPartExamined = "BRAIN"
        ds.MRAcquisitionType = "3D"
        ds.ScanningSequence = "GR"
        ds.SequenceVariant = "SP"
        ds.EchoTime = "3.0"
        ds.RepetitionTime = "8.0"
        ds.InversionTime = "900"
        ds.FlipAngle = "8"
        ds.MagneticFieldStrength = "3"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-14.4, -14.4, -15.0 + 2.0 * k]
        ds.PixelSpacing = [0.9, 0.9]
        ds.SliceThickness = "2.0"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ROWS
        ds.Columns = COLUMNS
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = voxels[k].tobytes()
        ds.save_as(os.path.join(folder, f"{k + 1:03d}.dcm"), write_like_original=False)
    return study_uid


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class ServerProcess:
    """tributary-server as a child process on a loopback port with its own data directory (and
    so its own embedded PostgreSQL cluster), and the CLI pointed at it."""

    def __init__(self, folder, extra_args=(), cli_options=()):
        self.folder = folder
        self.data = os.path.join(folder, "data")
        self.operator = os.path.join(self.data, "operator.token")
        self.address = f"127.0.0.1:{free_port()}"
        self.cli_options = list(cli_options)
        self.env = clean_environment()
        self.log_path = os.path.join(folder, "server.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [SERVER, "--data-dir", self.data, "--listen", self.address,
             "--harmonization-workers", "1", *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        try:
            self.wait_until_answering()
        except BaseException:
            self.stop()
            raise

    def wait_until_answering(self):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tributary-server exited {self.process.returncode}:\n"
                                   + self.server_log())
            if os.path.exists(self.operator):
                probe = subprocess.run(
                    [CLI, "centres", "list", "--server", self.address, *self.cli_options,
                     "--token-file", self.operator], env=self.env, capture_output=True)
                if probe.returncode == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError("tributary-server did not answer within 90 s:\n" + self.server_log())

    def cli(self, command, *args):
        """Runs `tributary COMMAND [SUBCOMMAND] --server ADDR ARGS...`; returns its output."""
        words = [command]
        if command not in ("upload",) and args and not args[0].startswith("-"):
            words.append(args[0])
            args = args[1:]
        run = subprocess.run([CLI, *words, "--server", self.address, *self.cli_options, *args],
                             env=self.env, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"tributary {' '.join(words)} exited {run.returncode}:\n"
                               f"{run.stdout}\n{run.stderr}\n{self.server_log()}")
        return run.stdout

    def server_log(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()[-20000:].decode("utf-8", "replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def make_test_folder():
    folder = tempfile.mkdtemp(prefix="trib_py_e2e_")
    # Run as root, the server's embedded cluster runs as the postgres user, who must reach
    # DATA_DIR/postgres: mkdtemp's 0700 would keep it out. Token files stay 0600.
    os.chmod(folder, 0o755)
    return folder


def remove_test_folder(folder):
    if os.environ.get("TRIBUTARY_KEEP_TEST_DIR"):
        print(f"kept {folder}", file=sys.stderr)
    else:
        shutil.rmtree(folder, ignore_errors=True)


@unittest.skipUnless(CLI and SERVER, "TRIBUTARY_CLI and TRIBUTARY_SERVER_BIN not set (run by ctest)")
class ExportE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = make_test_folder()
        cls.client = None
        try:
            cls.server = ServerProcess(cls.tmp)
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        server = cls.server
        cls.address = server.address
        cls.env = server.env
        cls.operator = server.operator
        tokens = {}
        for centre in ("north", "south"):
            out = server.cli("centres", "add", centre, "--token-file", cls.operator)
            tokens[centre] = write_private(os.path.join(cls.tmp, f"{centre}.token"),
                                           out.strip().splitlines()[-1])
        cls.uploader = tokens["north"]
        inputs = os.path.join(cls.tmp, "dicom")
        north = os.path.join(inputs, "north")
        south = os.path.join(inputs, "south")
        write_series(os.path.join(north, "p1"), "N001", "F", 34, "VendorA", phantom(1.0, 0, 1))
        write_series(os.path.join(north, "p2"), "N002", "M", 61, "VendorA", phantom(1.0, 0, 2))
        # The second site: the same anatomy through another scanner response.
        write_series(os.path.join(south, "p3"), "S001", "F", 47, "VendorB", phantom(1.8, 150, 3))
        # ... and a referral: the CD of north's first patient, sent again by south.
        shutil.copytree(os.path.join(north, "p1"), os.path.join(south, "p1-referral"))
        server.cli("upload", north, "--complete", "--token-file", tokens["north"])
        server.cli("upload", south, "--complete", "--token-file", tokens["south"])
        server.cli("jobs", "wait", "--timeout", "600", "--token-file", cls.operator)
        created = json.loads(server.cli("tokens", "create", "--role", "researcher", "--name",
                                        "python-e2e", "--json", "--token-file", cls.operator))
        cls.researcher = write_private(os.path.join(cls.tmp, "researcher.token"),
                                       created["secret"])
        cls.client = Client(cls.address, token_file=cls.researcher)

    @classmethod
    def tearDownClass(cls):
        if cls.client is not None:
            cls.client.close()
        if getattr(cls, "server", None) is not None:
            cls.server.stop()
        remove_test_folder(cls.tmp)

    def fresh_dir(self, name):
        path = os.path.join(self.tmp, name)
        self.assertFalse(os.path.exists(path))
        return path

    def test_query_pages_through_both_centres_and_drops_the_referral_copy(self):
        everything = list(self.client.query_volumes({"modality": "MR"}))
        self.assertEqual(len(everything), 4, everything)
        self.assertEqual(sorted({v["centre"] for v in everything}), ["north", "south"])
        one_by_one = list(self.client.query_volumes(["modality=MR"], page_size=1))
        self.assertEqual([(v["derivation_id"], v["stem"]) for v in one_by_one],
                         [(v["derivation_id"], v["stem"]) for v in everything])
        unique = list(self.client.query_volumes({"modality": "MR"}, exclude_duplicates=True))
        self.assertEqual(len(unique), 3, unique)
        south = list(self.client.query_volumes({"centre": "south"}))
        self.assertEqual(len(south), 2)
        for v in everything:
            self.assertEqual(v["modality"], "MR")
            self.assertEqual(v["recipe_name"], "mr-default")
            self.assertEqual(len(v["recipe_sha256"]), 64)
            self.assertIsInstance(v["derivation_id"], int)
            self.assertIsInstance(v["qc_metrics"], dict)
        self.assertEqual(list(self.client.query_volumes({"modality": "CT"})), [])

    def test_cohorts_are_created_listed_and_shown(self):
        before = {c["id"] for c in self.client.list_cohorts()}
        cohort = self.client.create_cohort("north only", {"centre": "north"})
        self.assertNotIn(cohort["id"], before)
        self.assertEqual(cohort["name"], "north only")
        self.assertEqual(cohort["volume_count"], 2)
        self.assertEqual(cohort["centre_count"], 1)
        self.assertEqual(cohort["query"]["filters"], [{"key": "centre", "value": "north"}])
        listed = {c["id"]: c for c in self.client.list_cohorts()}
        self.assertEqual(set(listed), before | {cohort["id"]})
        self.assertEqual(listed[cohort["id"]]["name"], "north only")
        shown = self.client.get_cohort(cohort["id"])
        self.assertEqual(shown["cohort"]["id"], cohort["id"])
        self.assertEqual(len(shown["volumes"]), 2)
        self.assertEqual({v["centre"] for v in shown["volumes"]}, {"north"})
        self.assertEqual(len(shown["files"]), cohort["file_count"])
        self.assertEqual(sum(f["size"] for f in shown["files"]), cohort["bytes"])

    def test_export_is_verified_readable_and_resumes(self):
        cohort = self.client.create_cohort("python export", {"modality": "MR"},
                                           exclude_duplicates=True)
        files = self.client.get_cohort(cohort["id"])["files"]
        out = self.fresh_dir("export")
        calls = []
        summary = self.client.export(cohort["id"], out, progress=lambda *a: calls.append(a))
        self.assertEqual(summary, {"files_sent": len(files), "files_skipped": 0,
                                   "bytes_received": sum(f["size"] for f in files)})
        self.assertEqual(calls[-1][0], len(files))
        for f in files:
            self.assertEqual(sha256_of(os.path.join(out, f["path"])), f["sha256"], f["path"])
        self.assertEqual(glob.glob(os.path.join(out, "**", "*.partial"), recursive=True), [])

        niftis = sorted(glob.glob(os.path.join(out, "sub-*", "**", "*.nii.gz"), recursive=True))
        self.assertEqual(len(niftis), 3, niftis)
        for path in niftis:
            image = nibabel.load(path)
            voxels = np.asanyarray(image.dataobj)
            self.assertGreaterEqual(voxels.ndim, 3, path)
            self.assertTrue(all(n > 1 for n in voxels.shape[:3]), (path, voxels.shape))
            self.assertTrue(np.all(np.isfinite(voxels)), path)
            self.assertGreater(float(np.std(voxels)), 0, path)

        check = subprocess.run(["sha256sum", "--strict", "-c", "manifest.sha256"], cwd=out,
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        checked = {line[:-len(": OK")] for line in check.stdout.splitlines()
                   if line.endswith(": OK")}
        self.assertEqual(checked, {f["path"] for f in files} - {"manifest.sha256"})

        again = self.client.export(cohort["id"], out)
        self.assertEqual(again, {"files_sent": 0, "files_skipped": len(files),
                                 "bytes_received": 0})

        # One file damaged (same size), one deleted: only those two come again.
        damaged, deleted = niftis[0], niftis[1]
        with open(damaged, "r+b") as f:
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
            f.seek(-1, os.SEEK_END)
            f.write(bytes([last[0] ^ 0xFF]))
        os.unlink(deleted)
        sizes = {os.path.join(out, f["path"]): f["size"] for f in files}
        repaired = self.client.export(cohort["id"], out)
        self.assertEqual(repaired, {"files_sent": 2, "files_skipped": len(files) - 2,
                                    "bytes_received": sizes[damaged] + sizes[deleted]})
        check = subprocess.run(["sha256sum", "--strict", "-c", "manifest.sha256"], cwd=out,
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_an_interrupted_export_resumes_with_what_is_missing(self):
        cohort = self.client.create_cohort("interrupted", {"modality": "MR"})
        files = self.client.get_cohort(cohort["id"])["files"]
        self.assertGreater(len(files), 4)
        out = self.fresh_dir("interrupted")

        class Interrupted(Exception):
            pass

        def stop_after_three(files_done, files_total, bytes_done, bytes_total):
            if files_done == 3:
                raise Interrupted

        with self.assertRaises(Interrupted):
            self.client.export(cohort["id"], out, progress=stop_after_three)
        present = [f for f in files if os.path.exists(os.path.join(out, f["path"]))]
        self.assertEqual(len(present), 3)
        self.assertEqual(glob.glob(os.path.join(out, "**", "*.partial"), recursive=True), [])
        resumed = self.client.export(cohort["id"], out)
        self.assertEqual(resumed, {
            "files_sent": len(files) - 3, "files_skipped": 3,
            "bytes_received": sum(f["size"] for f in files) - sum(f["size"] for f in present)})
        for f in files:
            self.assertEqual(sha256_of(os.path.join(out, f["path"])), f["sha256"], f["path"])

    def test_provenance_of_a_cohort_is_prov_json(self):
        cohort = self.client.create_cohort("provenance", {"centre": "south"})
        document = self.client.provenance(cohort["id"])
        self.assertIn("prefix", document)
        for kind in ("entity", "activity", "agent"):
            self.assertTrue(document.get(kind), f"no {kind} in {sorted(document)}")
        self.assertEqual(document, self.client.provenance(f"cohort:{cohort['id']}"))
        self.assertTrue(self.client.provenance_summary(cohort["id"]).strip())

    def test_refusals_carry_the_status_code_and_the_servers_message(self):
        with self.assertRaises(RpcError) as caught:
            self.client.get_cohort(987654321)
        self.assertEqual(caught.exception.code, grpc.StatusCode.NOT_FOUND)
        self.assertTrue(caught.exception.message)
        self.assertEqual(caught.exception.method, "GetCohort")
        with Client(self.address, token_file=self.uploader) as uploader:
            with self.assertRaises(RpcError) as caught:
                uploader.list_cohorts()
            self.assertEqual(caught.exception.code, grpc.StatusCode.PERMISSION_DENIED)
            with self.assertRaises(RpcError) as caught:
                uploader.export(1, self.fresh_dir("uploader-export"))
            self.assertEqual(caught.exception.code, grpc.StatusCode.PERMISSION_DENIED)
        with Client(self.address, token="not-a-token") as stranger:
            with self.assertRaises(RpcError) as caught:
                stranger.list_cohorts()
            self.assertEqual(caught.exception.code, grpc.StatusCode.UNAUTHENTICATED)

    def test_example_script_creates_exports_and_reads_a_cohort(self):
        out = self.fresh_dir("example")
        env = dict(self.env, PYTHONPATH=os.environ.get("PYTHONPATH", ""))
        run = subprocess.run(
            [sys.executable, os.path.join(EXAMPLES, "export_cohort.py"), "--server",
             self.address, "--token-file", self.researcher, "--name", "example",
             "--filter", "modality=MR", "--exclude-duplicates", "--out", out],
            env=env, capture_output=True, text=True, timeout=600)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(run.stdout.count(".nii.gz "), 3, run.stdout)
        self.assertIn('"files_sent"', run.stdout)
        check = subprocess.run(["sha256sum", "--strict", "-c", "manifest.sha256"], cwd=out,
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


def make_certificates(folder):
    """CA "a" (server and client certificates) and CA "b" (a client certificate no server
    trusts), made with the openssl command as tests/e2e/security_e2e_test.cc makes them."""
    os.makedirs(folder)
    with open(os.path.join(folder, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    script = """set -e
for ca in a b; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca-$ca -keyout ca-$ca.key \
    -out ca-$ca.pem
done
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr
openssl x509 -req -in server.csr -CA ca-a.pem -CAkey ca-a.key -CAcreateserial -days 2 \
  -extfile server.ext -out server.pem
for ca in a b; do
  openssl req -newkey rsa:2048 -nodes -subj /CN=researcher-$ca -keyout client-$ca.key \
    -out client-$ca.csr
  openssl x509 -req -in client-$ca.csr -CA ca-$ca.pem -CAkey ca-$ca.key -CAcreateserial \
    -days 2 -out client-$ca.pem
done
chmod 600 *.key
"""
    made = subprocess.run(["sh", "-c", script], cwd=folder, capture_output=True, text=True)
    if made.returncode != 0:
        raise RuntimeError("openssl failed:\n" + made.stdout + made.stderr)
    return folder


@unittest.skipUnless(CLI and SERVER, "TRIBUTARY_CLI and TRIBUTARY_SERVER_BIN not set (run by ctest)")
class MutualTlsE2E(unittest.TestCase):
    """The client's TLS options against a server that demands a client certificate."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = make_test_folder()
        cls.server = None
        try:
            cls.tls_dir = make_certificates(os.path.join(cls.tmp, "tls"))
            cls.server = ServerProcess(
                cls.tmp,
                ["--tls-cert", cls.tls("server.pem"), "--tls-key", cls.tls("server.key"),
                 "--client-ca", cls.tls("ca-a.pem")],
                ["--tls-ca", cls.tls("ca-a.pem"), "--tls-cert", cls.tls("client-a.pem"),
                 "--tls-key", cls.tls("client-a.key")])
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.stop()
        remove_test_folder(cls.tmp)

    @classmethod
    def tls(cls, name):
        return os.path.join(cls.tls_dir, name)

    def list_cohorts(self, **tls):
        with Client(self.server.address, token_file=self.server.operator, timeout=20,
                    **tls) as client:
            return client.list_cohorts()

    def test_a_client_certificate_of_the_trusted_ca_is_let_in(self):
        self.assertEqual(self.list_cohorts(tls_ca=self.tls("ca-a.pem"),
                                           tls_cert=self.tls("client-a.pem"),
                                           tls_key=self.tls("client-a.key")), [])

    def test_the_tls_environment_variables_are_the_defaults(self):
        saved = {k: os.environ.get(k) for k in
                 ("TRIBUTARY_TLS_CA", "TRIBUTARY_TLS_CERT", "TRIBUTARY_TLS_KEY")}
        os.environ.update(TRIBUTARY_TLS_CA=self.tls("ca-a.pem"),
                          TRIBUTARY_TLS_CERT=self.tls("client-a.pem"),
                          TRIBUTARY_TLS_KEY=self.tls("client-a.key"))
        try:
            self.assertEqual(self.list_cohorts(), [])
            with self.assertRaises(RpcError) as caught:  # "" overrides the environment
                self.list_cohorts(tls_ca="", tls_cert="", tls_key="")
            self.assertEqual(caught.exception.code, grpc.StatusCode.UNAVAILABLE)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def test_no_certificate_another_ca_or_plaintext_is_refused(self):
        refused = {
            "no client certificate": dict(tls_ca=self.tls("ca-a.pem"), tls_cert="", tls_key=""),
            "a client certificate of another CA": dict(tls_ca=self.tls("ca-a.pem"),
                                                       tls_cert=self.tls("client-b.pem"),
                                                       tls_key=self.tls("client-b.key")),
            "a server certificate of an untrusted CA": dict(tls_ca=self.tls("ca-b.pem"),
                                                            tls_cert=self.tls("client-a.pem"),
                                                            tls_key=self.tls("client-a.key")),
            "plaintext": dict(tls_ca="", tls_cert="", tls_key=""),
        }
        for case, tls in refused.items():
            with self.subTest(case), self.assertRaises(RpcError) as caught:
                self.list_cohorts(**tls)
            self.assertEqual(caught.exception.code, grpc.StatusCode.UNAVAILABLE, case)


if __name__ == "__main__":
    unittest.main()
