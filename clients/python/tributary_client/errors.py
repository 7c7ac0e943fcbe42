"""The exceptions tributary_client raises."""

import grpc


class TributaryError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(TributaryError):
    """A token, token file or TLS file cannot be used (nothing was sent to the server)."""


class RpcError(TributaryError):
    """The server (or the connection to it) refused a call.

    Attributes:
        code: the gRPC status code (a grpc.StatusCode, e.g. grpc.StatusCode.PERMISSION_DENIED).
        message: the server's message (the status details).
        method: the RPC that failed, e.g. "GetCohort".
    """

    def __init__(self, code, message, method=""):
        """Builds the error from a status code, the server's message and the RPC's name."""
        self.code = code
        self.message = message
        self.method = method
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        prefix = f"{method}: " if method else ""
        super().__init__(f"{prefix}{name}: {message}")

    @classmethod
    def from_grpc(cls, error, method=""):
        """Wraps a grpc.RpcError (which is also a grpc.Call) raised by a stub."""
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code, details or "", method)


class ExportError(TributaryError):
    """An export could not be completed: an unsafe path, a file the cohort does not list, a file
    whose SHA-256 or size does not match the cohort's list, or a stream that ended early. A file
    that failed verification is never left under its final name."""
