"""Client: the tributary.v1.Cohorts service (query, cohorts, export, provenance) in Python."""

import json
import os

import grpc

from . import auth, export as export_module
from ._convert import filters_to_query, message_to_dict, volume_to_dict
from ._generated import cohorts_pb2, cohorts_pb2_grpc
from .errors import RpcError

DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_EXPORT_TIMEOUT_SECONDS = 24 * 3600.0
_MAX_RECEIVE_BYTES = 16 << 20


class Client:
    """A connection to tributary-server as a researcher (or operator).

    Args:
        server: "HOST:PORT"; None means $TRIBUTARY_SERVER, else 127.0.0.1:50051.
        token_file: a file holding the token (yours, mode 0600, as the CLI demands).
        token: the token itself; excludes token_file. Without either, $TRIBUTARY_TOKEN.
        tls_ca: CA (PEM) the server's certificate must chain to; TLS when set.
        tls_cert, tls_key: client certificate and private key (PEM, key mode 0600): mutual TLS.
            Each TLS argument left None defaults to $TRIBUTARY_TLS_CA / _CERT / _KEY like the
            CLI; pass "" to ignore the environment.
        timeout: deadline in seconds of every call but export's.

    Raises ConfigurationError for a token or TLS file that cannot be used. The connection is
    made on the first call; use the client as a context manager, or call close().
    """

    def __init__(self, server=None, token_file=None, token=None, tls_ca=None, tls_cert=None,
                 tls_key=None, timeout=DEFAULT_TIMEOUT_SECONDS):
        """Reads the token and TLS files and opens a channel (see the class docstring)."""
        self.server = auth.resolve_server(server)
        token_value = auth.resolve_token(token_file=token_file, token=token)
        self._metadata = (("authorization", "Bearer " + token_value),) if token_value else ()
        self.timeout = timeout
        credentials = auth.channel_credentials(tls_ca, tls_cert, tls_key)
        options = [("grpc.max_receive_message_length", _MAX_RECEIVE_BYTES)]
        if credentials is None:
            self._channel = grpc.insecure_channel(self.server, options=options)
        else:
            self._channel = grpc.secure_channel(self.server, credentials, options=options)
        self._cohorts = cohorts_pb2_grpc.CohortsStub(self._channel)

    def close(self):
        """Closes the channel."""
        self._channel.close()

    def __enter__(self):
        """Returns the client itself."""
        return self

    def __exit__(self, *exc):
        """Closes the channel."""
        self.close()

    def _call(self, method, request, timeout=None):
        try:
            return getattr(self._cohorts, method)(
                request, timeout=self.timeout if timeout is None else timeout,
                metadata=self._metadata)
        except grpc.RpcError as error:
            raise RpcError.from_grpc(error, method) from error

    def query_volumes(self, filters=None, exclude_duplicates=False, page_size=None):
        """Yields every harmonized volume matching all `filters`, page after page.

        `filters`: a dict ({"modality": "MR", "centre": "north", "age": (20, 40)}; a list value
        gives several filters of one key, a (low, high) tuple a range with None for an open
        end), or a list of "KEY=VALUE" strings or (key, value) pairs; keys are docs/COHORTS.md's
        (modality, centre, recipe, body_part, sex, age, study_date, spacing, size, qc.<metric>).
        `exclude_duplicates` keeps one copy of a study several centres sent. `page_size`: the
        server's default (100) when None. Each volume is a dict of HarmonizedVolume's fields
        plus `qc_metrics` (qc_metrics_json parsed). Raises RpcError.
        """
        query = filters_to_query(filters, exclude_duplicates)
        page_token = ""
        while True:
            request = cohorts_pb2.QueryVolumesRequest(query=query, page_token=page_token)
            if page_size is not None:
                request.page_size = page_size
            response = self._call("QueryVolumes", request)
            for volume in response.volumes:
                yield volume_to_dict(volume)
            if not response.next_page_token:
                return
            page_token = response.next_page_token

    def list_cohorts(self):
        """Returns every cohort as a list of dicts (id, name, created_at, query, volume_count,
        subject_count, centre_count, file_count, bytes, ...). Raises RpcError."""
        response = self._call("ListCohorts", cohorts_pb2.ListCohortsRequest())
        return [message_to_dict(c) for c in response.cohorts]

    def create_cohort(self, name, filters=None, exclude_duplicates=False):
        """Freezes the volumes matching `filters` (as for query_volumes) into an immutable cohort
        named `name` (1-64 of A-Z a-z 0-9 . _ - and space); returns the cohort as a dict, whose
        `id` the other calls take. Raises RpcError."""
        request = cohorts_pb2.CreateCohortRequest(
            name=name, query=filters_to_query(filters, exclude_duplicates))
        return message_to_dict(self._call("CreateCohort", request).cohort)

    def get_cohort(self, cohort_id):
        """Returns one cohort as a dict: `cohort` (as list_cohorts gives it), `volumes` (as
        query_volumes gives them) and `files` (its export tree: path, sha256, size). Raises
        RpcError (NOT_FOUND for an unknown id)."""
        response = self._call("GetCohort", cohorts_pb2.GetCohortRequest(id=int(cohort_id)))
        return {
            "cohort": message_to_dict(response.cohort),
            "volumes": [volume_to_dict(v) for v in response.volumes],
            "files": [message_to_dict(f) for f in response.files],
        }

    def export(self, cohort_id, out_dir, progress=None, timeout=DEFAULT_EXPORT_TIMEOUT_SECONDS):
        """Downloads a cohort's export tree (a BIDS derivative dataset) into `out_dir`.

        Resumable and verified like `tributary cohorts export`: the file list comes from
        GetCohort; files already under `out_dir` with the listed size and SHA-256 are not sent
        again; every received file is written to `<path>.partial`, checked against the list
        (SHA-256 and size), fsynced and only then renamed to its name, so a file under its
        final name is always a verified one. Paths are validated (relative, no "..") before
        anything is written. `progress`, when given, is called as progress(files_done,
        files_total, bytes_done, bytes_total) as data arrive. `timeout` bounds the whole
        export (default 24 h).

        Returns {"files_sent", "files_skipped", "bytes_received"}. Raises ExportError when a
        path is unsafe or a file fails verification (that file is left nowhere; files completed
        before it stay, and calling export again resumes), RpcError when the server refuses.
        """
        out_dir = os.fspath(out_dir)
        files = self.get_cohort(cohort_id)["files"]
        skip_paths = export_module.plan_resume(out_dir, files)  # validates every path first
        os.makedirs(out_dir, exist_ok=True)
        request = cohorts_pb2.ExportCohortRequest(id=int(cohort_id), skip_paths=skip_paths)
        stream = self._cohorts.ExportCohort(request, timeout=timeout, metadata=self._metadata)
        try:
            return export_module.write_export_stream(stream, out_dir, files, skip_paths,
                                                     progress)
        except grpc.RpcError as error:
            raise RpcError.from_grpc(error, "ExportCohort") from error
        finally:
            stream.cancel()

    def provenance(self, object_id):
        """Returns the W3C PROV-JSON lineage (parsed, a dict) of a cohort, file, series or
        derivation: `object_id` is "sha256:<hex>", "series:<id>", "derivation:<id>" or
        "cohort:<id>"; an int means a cohort id. Raises RpcError."""
        if isinstance(object_id, int):
            object_id = f"cohort:{object_id}"
        response = self._call("GetProvenance", cohorts_pb2.GetProvenanceRequest(id=object_id))
        return json.loads(response.prov_json)

    def provenance_summary(self, object_id):
        """The same lineage as provenance(), as the server's text for people."""
        if isinstance(object_id, int):
            object_id = f"cohort:{object_id}"
        return self._call("GetProvenance", cohorts_pb2.GetProvenanceRequest(id=object_id)).summary
