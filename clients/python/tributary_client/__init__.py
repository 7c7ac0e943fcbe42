"""tributary_client: query harmonized volumes, make cohorts and export them from tributary-server.

    from tributary_client import Client

    with Client("tributary.example.org:50051", token_file="~/.tributary/token",
                tls_ca="ca.pem") as client:
        cohort = client.create_cohort("t1-adults", {"modality": "MR", "age": (18, None)})
        summary = client.export(cohort["id"], "t1-adults/")

The gRPC stubs of every tributary.v1 service (generated at build time from proto/) are in
tributary_client._generated, e.g. tributary_client._generated.cohorts_pb2_grpc.CohortsStub.
"""

from .auth import channel_credentials, read_token_file, resolve_token
from .client import Client
from .errors import ConfigurationError, ExportError, RpcError, TributaryError
from .export import plan_resume, validate_path, write_export_stream

__all__ = [
    "Client",
    "ConfigurationError",
    "ExportError",
    "RpcError",
    "TributaryError",
    "channel_credentials",
    "plan_resume",
    "read_token_file",
    "resolve_token",
    "validate_path",
    "write_export_stream",
]
