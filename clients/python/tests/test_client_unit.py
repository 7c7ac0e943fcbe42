"""tributary_client without a server: token files, TLS options, filters, path checks, resume and
the verified writing of an export stream. Run by ctest (python_client_unit) with the built package
on PYTHONPATH (build/clients/python)."""

import hashlib
import os
import stat
import tempfile
import unittest

import grpc

import tributary_client
from tributary_client import ConfigurationError, ExportError, RpcError
from tributary_client._convert import filters_to_query, message_to_dict
from tributary_client._generated import cohorts_pb2
from tributary_client.auth import channel_credentials, read_token_file, resolve_token
from tributary_client.export import plan_resume, validate_path, write_export_stream

PEM_CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def listed(path, data):
    return cohorts_pb2.CohortFile(path=path, sha256=sha256(data), size=len(data))


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="trib_py_unit_")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, data, mode=0o600):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path


class TokenFileTest(TempDirTest):
    def test_token_is_the_stripped_text(self):
        path = self.write("token", b"  tok-123_ABC \r\n")
        self.assertEqual(read_token_file(path), "tok-123_ABC")

    def test_group_or_other_access_is_refused(self):
        for mode in (0o640, 0o604, 0o620, 0o644, 0o666):
            with self.subTest(mode=oct(mode)):
                path = self.write("token", b"secret\n", mode)
                with self.assertRaisesRegex(ConfigurationError, "chmod 600"):
                    read_token_file(path)

    def test_owner_only_modes_are_accepted(self):
        for mode in (0o600, 0o400):
            with self.subTest(mode=oct(mode)):
                path = self.write(f"token{mode:o}", b"secret\n", mode)
                self.assertEqual(read_token_file(path), "secret")

    @unittest.skipUnless(os.geteuid() == 0, "changing a file's owner needs root")
    def test_another_users_file_is_refused(self):
        path = self.write("token", b"secret\n")
        os.chown(path, 65534, 65534)
        with self.assertRaisesRegex(ConfigurationError, "belongs to uid 65534"):
            read_token_file(path)

    def test_not_a_regular_file_is_refused(self):
        path = os.path.join(self.dir, "folder")
        os.mkdir(path, 0o700)
        with self.assertRaisesRegex(ConfigurationError, "not a regular file"):
            read_token_file(path)

    def test_missing_empty_and_oversized_files_are_refused(self):
        with self.assertRaisesRegex(ConfigurationError, "cannot read"):
            read_token_file(os.path.join(self.dir, "absent"))
        with self.assertRaisesRegex(ConfigurationError, "is empty"):
            read_token_file(self.write("empty", b" \n\n"))
        with self.assertRaisesRegex(ConfigurationError, "larger than 4096"):
            read_token_file(self.write("large", b"a" * 4097))
        self.assertEqual(read_token_file(self.write("limit", b"a" * 4096)), "a" * 4096)

    def test_a_token_with_inner_whitespace_is_refused(self):
        with self.assertRaisesRegex(ConfigurationError, "spaces or control"):
            read_token_file(self.write("two", b"one\ntwo\n"))

    def test_token_file_then_token_then_environment(self):
        path = self.write("token", b"from-file\n")
        env = {"TRIBUTARY_TOKEN": "from-env"}
        self.assertEqual(resolve_token(token_file=path, environ=env), "from-file")
        self.assertEqual(resolve_token(token="given", environ=env), "given")
        self.assertEqual(resolve_token(environ=env), "from-env")
        self.assertEqual(resolve_token(environ={}), "")
        with self.assertRaisesRegex(ConfigurationError, "exclude each other"):
            resolve_token(token_file=path, token="given", environ=env)

    def test_client_sends_the_token_as_a_bearer_authorization_header(self):
        path = self.write("token", b"abc\n")
        client = tributary_client.Client("127.0.0.1:1", token_file=path, tls_ca="",
                                         tls_cert="", tls_key="")
        self.assertEqual(client._metadata, (("authorization", "Bearer abc"),))
        client.close()

    def test_client_refuses_a_readable_token_file_before_connecting(self):
        path = self.write("token", b"abc\n", 0o644)
        with self.assertRaises(ConfigurationError):
            tributary_client.Client("127.0.0.1:1", token_file=path)


class TlsTest(TempDirTest):
    def test_no_tls_option_is_plaintext(self):
        self.assertIsNone(channel_credentials(environ={}))
        self.assertIsNone(channel_credentials("", "", "", environ={"TRIBUTARY_TLS_CA": "x"}))

    def test_ca_alone_and_certificate_with_key_make_credentials(self):
        ca = self.write("ca.pem", PEM_CERT, 0o644)
        cert = self.write("cert.pem", PEM_CERT, 0o644)
        key = self.write("key.pem", PEM_KEY, 0o600)
        self.assertIsInstance(channel_credentials(ca, environ={}), grpc.ChannelCredentials)
        self.assertIsInstance(channel_credentials(ca, cert, key, environ={}),
                              grpc.ChannelCredentials)
        env = {"TRIBUTARY_TLS_CA": ca, "TRIBUTARY_TLS_CERT": cert, "TRIBUTARY_TLS_KEY": key}
        self.assertIsInstance(channel_credentials(environ=env), grpc.ChannelCredentials)

    def test_certificate_and_key_go_together(self):
        cert = self.write("cert.pem", PEM_CERT, 0o644)
        with self.assertRaisesRegex(ConfigurationError, "go together"):
            channel_credentials(None, cert, None, environ={})
        with self.assertRaisesRegex(ConfigurationError, "go together"):
            channel_credentials(None, None, cert, environ={})

    def test_files_that_are_not_pem_or_a_readable_key_are_refused(self):
        not_pem = self.write("ca.txt", b"hello", 0o644)
        cert = self.write("cert.pem", PEM_CERT, 0o644)
        open_key = self.write("key.pem", PEM_KEY, 0o644)
        with self.assertRaisesRegex(ConfigurationError, "cannot read a PEM file"):
            channel_credentials(not_pem, environ={})
        with self.assertRaisesRegex(ConfigurationError, "cannot read a PEM file"):
            channel_credentials(environ={"TRIBUTARY_TLS_CA": not_pem})
        with self.assertRaisesRegex(ConfigurationError, "TLS key .* chmod 600"):
            channel_credentials(None, cert, open_key, environ={})


class FiltersTest(unittest.TestCase):
    def pairs(self, filters):
        return [(f.key, f.value) for f in filters_to_query(filters).filters]

    def test_the_accepted_forms(self):
        self.assertEqual(self.pairs({"modality": "MR", "centre": ["north", "south"]}),
                         [("modality", "MR"), ("centre", "north"), ("centre", "south")])
        self.assertEqual(self.pairs({"age": (20, 40), "spacing": (None, 1.5), "size": (32, None)}),
                         [("age", "20..40"), ("spacing", "..1.5"), ("size", "32..")])
        self.assertEqual(self.pairs(["modality=MR", "qc.mean=0..1", ("sex", "F")]),
                         [("modality", "MR"), ("qc.mean", "0..1"), ("sex", "F")])
        self.assertEqual(self.pairs(None), [])
        self.assertTrue(filters_to_query({}, exclude_duplicates=True).exclude_duplicates)

    def test_malformed_filters_are_refused(self):
        for bad in (["modality"], ["=MR"], [("a", "b", "c")], [42]):
            with self.subTest(filters=bad), self.assertRaises(ValueError):
                filters_to_query(bad)
        with self.assertRaises(TypeError):
            filters_to_query("modality=MR")

    def test_int64_fields_stay_ints(self):
        cohort = cohorts_pb2.Cohort(id=7, name="c", bytes=1 << 40)
        as_dict = message_to_dict(cohort)
        self.assertEqual(as_dict["id"], 7)
        self.assertEqual(as_dict["bytes"], 1 << 40)
        self.assertEqual(as_dict["query"], {"filters": [], "exclude_duplicates": False})


class RpcErrorTest(unittest.TestCase):
    def test_code_and_message_are_kept(self):
        error = RpcError(grpc.StatusCode.NOT_FOUND, "no cohort 9", "GetCohort")
        self.assertEqual(error.code, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(error.message, "no cohort 9")
        self.assertEqual(str(error), "GetCohort: NOT_FOUND: no cohort 9")
        self.assertIsInstance(error, tributary_client.TributaryError)


class PathValidationTest(unittest.TestCase):
    SAFE = ["manifest.sha256", "sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz", "qc/summary.tsv",
            ".bidsignore", "a..b/c"]
    UNSAFE = ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "..", ".",
              "a\\..\\b", "a\0b", "sub-01/x.nii.gz.partial"]

    def test_safe_paths(self):
        for path in self.SAFE:
            with self.subTest(path=path):
                self.assertEqual(validate_path(path), path.split("/"))

    def test_unsafe_paths(self):
        for path in self.UNSAFE:
            with self.subTest(path=path), self.assertRaises(ExportError):
                validate_path(path)


class ResumeTest(TempDirTest):
    def test_only_files_of_the_listed_size_and_digest_are_skipped(self):
        good, other = b"exported bytes\n", b"exported bytez\n"
        self.write("out/ok.nii.gz", good, 0o644)
        self.write("out/sub/nested.json", good, 0o644)
        self.write("out/corrupt.nii.gz", other, 0o644)  # same size, other digest
        self.write("out/short.json", good[:-1], 0o644)
        os.makedirs(os.path.join(self.dir, "out", "folder.json"))
        os.symlink(os.path.join(self.dir, "out", "ok.nii.gz"),
                   os.path.join(self.dir, "out", "link.nii.gz"))
        files = [listed(p, good) for p in ("ok.nii.gz", "sub/nested.json", "corrupt.nii.gz",
                                            "short.json", "folder.json", "link.nii.gz",
                                            "missing.tsv")]
        self.assertEqual(sorted(plan_resume(os.path.join(self.dir, "out"), files)),
                         ["ok.nii.gz", "sub/nested.json"])

    def test_the_digest_decides_even_when_the_size_matches(self):
        self.write("out/a", b"A" * 100, 0o644)
        out = os.path.join(self.dir, "out")
        self.assertEqual(plan_resume(out, [listed("a", b"A" * 100)]), ["a"])
        self.assertEqual(plan_resume(out, [listed("a", b"A" * 99 + b"B")]), [])

    def test_unsafe_or_repeated_paths_are_refused_before_anything(self):
        out = os.path.join(self.dir, "out")
        os.makedirs(out)
        with self.assertRaisesRegex(ExportError, "unsafe"):
            plan_resume(out, [listed("ok", b""), listed("../escape", b"")])
        with self.assertRaisesRegex(ExportError, "twice"):
            plan_resume(out, [listed("ok", b""), listed("ok", b"")])

    def test_a_symbolic_link_leading_out_of_the_folder_is_refused(self):
        out = os.path.join(self.dir, "out")
        outside = os.path.join(self.dir, "outside")
        os.makedirs(out)
        os.makedirs(outside)
        os.symlink(outside, os.path.join(out, "sub"))
        with self.assertRaisesRegex(ExportError, "symbolic link"):
            plan_resume(out, [listed("sub/file", b"x")])


def chunks_of(path, data, header_data_bytes=3, chunk=4):
    """An ExportChunk sequence for one file: a header carrying the first bytes, then the rest."""
    first = data[:header_data_bytes]
    yield cohorts_pb2.ExportChunk(file=listed(path, data), data=first)
    for i in range(header_data_bytes, len(data), chunk):
        yield cohorts_pb2.ExportChunk(data=data[i:i + chunk])


class WriteStreamTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.out = os.path.join(self.dir, "out")
        os.makedirs(self.out)
        self.a = b"first file, several chunks long\n"
        self.b = b""
        self.c = b"third {}\n" * 10
        self.files = [listed("sub-1/anat/a.nii.gz", self.a), listed("empty.tsv", self.b),
                      listed("c.json", self.c)]

    def read(self, path):
        with open(os.path.join(self.out, path), "rb") as f:
            return f.read()

    def exists(self, path):
        return os.path.lexists(os.path.join(self.out, path))

    def test_every_file_is_written_verified_and_renamed(self):
        stream = [*chunks_of("sub-1/anat/a.nii.gz", self.a), *chunks_of("empty.tsv", self.b),
                  *chunks_of("c.json", self.c)]
        calls = []
        summary = write_export_stream(iter(stream), self.out, self.files,
                                      progress=lambda *args: calls.append(args))
        self.assertEqual(summary, {"files_sent": 3, "files_skipped": 0,
                                   "bytes_received": len(self.a) + len(self.c)})
        self.assertEqual(self.read("sub-1/anat/a.nii.gz"), self.a)
        self.assertEqual(self.read("empty.tsv"), b"")
        self.assertEqual(self.read("c.json"), self.c)
        leftovers = [n for _, _, names in os.walk(self.out) for n in names
                     if n.endswith(".partial")]
        self.assertEqual(leftovers, [])
        self.assertEqual(calls[-1], (3, 3, len(self.a) + len(self.c), len(self.a) + len(self.c)))

    def test_skipped_files_are_not_expected(self):
        summary = write_export_stream(iter([*chunks_of("c.json", self.c)]), self.out, self.files,
                                      skip_paths=["sub-1/anat/a.nii.gz", "empty.tsv"])
        self.assertEqual(summary, {"files_sent": 1, "files_skipped": 2,
                                   "bytes_received": len(self.c)})

    def test_a_digest_mismatch_leaves_nothing_under_the_final_name(self):
        tampered = self.c[:-2] + b"X\n"  # listed size, other bytes
        self.write("out/c.json", b"stale copy", 0o644)
        stream = [*chunks_of("sub-1/anat/a.nii.gz", self.a), *chunks_of("empty.tsv", self.b),
                  cohorts_pb2.ExportChunk(file=listed("c.json", self.c), data=tampered)]
        with self.assertRaisesRegex(ExportError, "c.json: SHA-256 .* received"):
            write_export_stream(iter(stream), self.out, self.files)
        self.assertFalse(self.exists("c.json"))
        self.assertFalse(self.exists("c.json.partial"))
        # Files verified before the failure stay, so a new export resumes from them.
        self.assertEqual(self.read("sub-1/anat/a.nii.gz"), self.a)
        self.assertEqual(sorted(plan_resume(self.out, self.files)),
                         ["empty.tsv", "sub-1/anat/a.nii.gz"])

    def test_too_many_or_too_few_bytes_are_refused(self):
        long = [cohorts_pb2.ExportChunk(file=listed("c.json", self.c), data=self.c + b"!")]
        with self.assertRaisesRegex(ExportError, "more than the listed"):
            write_export_stream(iter(long), self.out, self.files, ["sub-1/anat/a.nii.gz",
                                                                   "empty.tsv"])
        self.assertFalse(self.exists("c.json.partial"))
        short = [cohorts_pb2.ExportChunk(file=listed("c.json", self.c), data=self.c[:-1]),
                 *chunks_of("empty.tsv", self.b)]
        with self.assertRaisesRegex(ExportError, "bytes received, the cohort lists"):
            write_export_stream(iter(short), self.out, self.files, ["sub-1/anat/a.nii.gz"])
        self.assertFalse(self.exists("c.json"))

    def test_the_list_decides_not_the_header(self):
        # A header that claims another digest or size does not make other bytes acceptable.
        for header in (cohorts_pb2.CohortFile(path="c.json", sha256=sha256(b"x" * len(self.c)),
                                              size=len(self.c)),
                       cohorts_pb2.CohortFile(path="c.json", sha256=sha256(self.c),
                                              size=len(self.c) + 1)):
            lying = cohorts_pb2.ExportChunk(file=header, data=b"x" * len(self.c))
            with self.subTest(header=str(header)), \
                    self.assertRaisesRegex(ExportError, "header .* is not what the cohort lists"):
                write_export_stream(iter([lying]), self.out, self.files,
                                    ["sub-1/anat/a.nii.gz", "empty.tsv"])
            self.assertFalse(self.exists("c.json.partial"))

    def test_unexpected_files_are_refused(self):
        cases = {
            "does not list": [*chunks_of("../../etc/passwd", b"root\n")],
            "to be skipped": [*chunks_of("empty.tsv", self.b)],
            "twice": [*chunks_of("c.json", self.c), *chunks_of("c.json", self.c)],
            "before any file header": [cohorts_pb2.ExportChunk(data=b"orphan")],
        }
        for reason, stream in cases.items():
            with self.subTest(reason=reason), self.assertRaisesRegex(ExportError, reason):
                write_export_stream(iter(stream), self.out, self.files, ["empty.tsv"])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "etc")))

    def test_a_stream_that_ends_early_is_an_error(self):
        stream = [*chunks_of("sub-1/anat/a.nii.gz", self.a)]
        with self.assertRaisesRegex(ExportError, "2 file\\(s\\) not sent"):
            write_export_stream(iter(stream), self.out, self.files)

    def test_an_interrupted_stream_removes_the_partial_file(self):
        def interrupted():
            yield cohorts_pb2.ExportChunk(file=listed("c.json", self.c), data=self.c[:5])
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            write_export_stream(interrupted(), self.out, self.files)
        self.assertFalse(self.exists("c.json.partial"))
        self.assertFalse(self.exists("c.json"))

    def test_a_folder_in_a_files_place_is_left_alone(self):
        os.makedirs(os.path.join(self.out, "c.json", "inside"))
        with self.assertRaises(OSError):
            write_export_stream(iter([*chunks_of("c.json", self.c)]), self.out, self.files,
                                ["sub-1/anat/a.nii.gz", "empty.tsv"])
        self.assertTrue(os.path.isdir(os.path.join(self.out, "c.json", "inside")))
        self.assertFalse(self.exists("c.json.partial"))

    def test_files_are_fsynced_before_the_rename(self):
        synced, renamed = [], []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            synced.append(stat.S_ISREG(os.fstat(fd).st_mode))
            return real_fsync(fd)

        def replace(src, dst):
            renamed.append((len([s for s in synced if s]), dst))
            return real_replace(src, dst)

        os.fsync, os.replace = fsync, replace
        try:
            write_export_stream(iter([*chunks_of("c.json", self.c), *chunks_of("empty.tsv", b"")]),
                                self.out, self.files, ["sub-1/anat/a.nii.gz"])
        finally:
            os.fsync, os.replace = real_fsync, real_replace
        self.assertEqual([(n, os.path.basename(d)) for n, d in renamed],
                         [(1, "c.json"), (2, "empty.tsv")])


if __name__ == "__main__":
    unittest.main()
