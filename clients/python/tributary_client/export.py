"""Writing a cohort export to a folder: path checks, resume, and per-file verification.

The steps Client.export runs, usable on their own: validate_path() on every path of the cohort's
file list, plan_resume() to find what is already present and verified, then write_export_stream()
on the ExportCohort stream.
"""

import hashlib
import os
import stat

from .errors import ExportError

PARTIAL_SUFFIX = ".partial"
_READ_BLOCK = 1 << 20


def validate_path(path):
    """Returns `path` split into its components if it is safe to write under an export folder.

    Safe means relative and '/'-separated: not empty, not absolute, no backslash or NUL, no
    empty, "." or ".." component (so nothing can land outside the folder), and no component
    ending in ".partial" (the suffix files are received under). Raises ExportError otherwise.
    """
    if not isinstance(path, str) or not path:
        raise ExportError(f"unsafe path {path!r}: empty")
    if path.startswith("/"):
        raise ExportError(f"unsafe path {path!r}: absolute")
    if "\\" in path or "\0" in path:
        raise ExportError(f"unsafe path {path!r}: backslash or NUL")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ExportError(f"unsafe path {path!r}: empty, '.' or '..' component")
        if part.endswith(PARTIAL_SUFFIX):
            raise ExportError(f"unsafe path {path!r}: ends in {PARTIAL_SUFFIX}")
    return parts


def _target(out_dir, path):
    """The file `path` names under `out_dir`, refused if a symbolic link on the way leads out."""
    parts = validate_path(path)
    target = os.path.join(out_dir, *parts)
    root = os.path.realpath(out_dir)
    parent = os.path.realpath(os.path.dirname(target))
    if parent != root and not parent.startswith(root + os.sep):
        raise ExportError(f"unsafe path {path!r}: leads out of {out_dir} through a symbolic link")
    return target


def sha256_of_file(path):
    """The SHA-256 of a file's content, as lowercase hexadecimal."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_READ_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected_by_path(files):
    expected = {}
    for f in files:
        path, sha256, size = _fields(f)
        validate_path(path)
        if path in expected:
            raise ExportError(f"the cohort lists {path!r} twice")
        expected[path] = (sha256.lower(), size)
    return expected


def _fields(f):
    if isinstance(f, dict):
        return f["path"], f["sha256"], int(f["size"])
    return f.path, f.sha256, int(f.size)


def plan_resume(out_dir, files):
    """Returns the paths of `files` already present and verified under `out_dir`.

    `files` is the cohort's file list (CohortFile messages or dicts with path, sha256, size). A
    file counts as present only if it is a regular file (not a symbolic link) of the listed size
    whose SHA-256 is the listed one; anything else is sent again. Every path is validated first
    (ExportError for an unsafe one or a path listed twice).
    """
    expected = _expected_by_path(files)
    present = []
    for path, (sha256, size) in expected.items():
        target = _target(out_dir, path)
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            continue
        if sha256_of_file(target) == sha256:
            present.append(path)
    return present


def _fsync_directory(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Receiving:
    """One file being received: its .partial file, digest and byte count."""

    def __init__(self, out_dir, path, sha256, size):
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.target = _target(out_dir, path)
        self.partial = self.target + PARTIAL_SUFFIX
        os.makedirs(os.path.dirname(self.target), exist_ok=True)
        self.fd = os.open(self.partial,
                          os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o644)
        self.digest = hashlib.sha256()
        self.received = 0

    def write(self, data):
        if self.received + len(data) > self.size:
            raise ExportError(f"{self.path}: more than the listed {self.size} bytes received")
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.digest.update(data)
        self.received += len(data)

    def finish(self):
        """Verifies, fsyncs and renames the file into place; ExportError on a mismatch."""
        if self.received != self.size:
            raise ExportError(f"{self.path}: {self.received} bytes received, "
                              f"the cohort lists {self.size}")
        actual = self.digest.hexdigest()
        if actual != self.sha256:
            raise ExportError(f"{self.path}: SHA-256 {actual} received, "
                              f"the cohort lists {self.sha256}")
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        os.replace(self.partial, self.target)
        _fsync_directory(os.path.dirname(self.target))

    def abandon(self):
        """Removes the .partial file and whatever stale file holds the final name."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        for name in (self.partial, self.target):
            try:
                os.unlink(name)
            except OSError:  # absent, or a folder in the file's place: nothing to undo
                pass


def write_export_stream(chunks, out_dir, files, skip_paths=(), progress=None):
    """Writes the files of an ExportCohort stream under `out_dir`; returns a summary dict.

    `chunks` iterates over ExportChunk messages: a chunk with `file` set starts a file, the
    chunks after it carry its bytes. `files` is the cohort's file list; `skip_paths` the paths
    that were asked not to be sent. A header must announce the listed SHA-256 and size, and the
    bytes must then have them: every file is written to `<path>.partial`, its size and
    SHA-256 checked against `files`, fsynced, then renamed to its final name. A file the list
    does not name, one of `skip_paths`, one sent twice, a size or digest mismatch (in the
    header or in the bytes), or a stream
    that ends before every other listed file arrived raises ExportError; the file at fault is
    then left neither under its final name nor as .partial (files completed before stay, so a
    new export resumes from them).

    `progress`, when given, is called as progress(files_done, files_total, bytes_done,
    bytes_total) after every chunk, counting only what this stream sends.

    The summary: files_sent, files_skipped, bytes_received.
    """
    expected = _expected_by_path(files)
    skipped = set(skip_paths)
    unknown = skipped - expected.keys()
    if unknown:
        raise ExportError(f"skip_paths not in the cohort: {sorted(unknown)}")
    wanted = [p for p in expected if p not in skipped]
    files_total = len(wanted)
    bytes_total = sum(expected[p][1] for p in wanted)
    done = set()
    bytes_received = 0
    current = None
    try:
        for chunk in chunks:
            if chunk.HasField("file"):
                if current is not None:
                    current.finish()
                    done.add(current.path)
                    current = None
                path = chunk.file.path
                if path not in expected:
                    raise ExportError(f"the server sent {path!r}, which the cohort does not list")
                if path in skipped:
                    raise ExportError(f"the server sent {path!r}, which was to be skipped")
                if path in done:
                    raise ExportError(f"the server sent {path!r} twice")
                sha256, size = expected[path]
                if chunk.file.sha256.lower() != sha256 or chunk.file.size != size:
                    raise ExportError(f"the server's header for {path!r} (SHA-256 "
                                      f"{chunk.file.sha256}, {chunk.file.size} bytes) is not "
                                      f"what the cohort lists")
                current = _Receiving(out_dir, path, sha256, size)
            elif chunk.data and current is None:
                raise ExportError("the server sent data before any file header")
            if chunk.data:
                current.write(chunk.data)
                bytes_received += len(chunk.data)
            if progress is not None:
                progress(len(done), files_total, bytes_received, bytes_total)
        if current is not None:
            current.finish()
            done.add(current.path)
            current = None
    except BaseException:
        if current is not None:
            current.abandon()
        raise
    missing = [p for p in wanted if p not in done]
    if missing:
        raise ExportError(f"the export stream ended with {len(missing)} file(s) not sent, "
                          f"e.g. {missing[0]!r}")
    if progress is not None:
        progress(len(done), files_total, bytes_received, bytes_total)
    return {"files_sent": len(done), "files_skipped": len(skipped),
            "bytes_received": bytes_received}
