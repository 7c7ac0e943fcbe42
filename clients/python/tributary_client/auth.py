"""Tokens and TLS credentials, read the way the `tributary` CLI reads them (cli/client.cc)."""

import os
import stat

import grpc

from .errors import ConfigurationError

TOKEN_FILE_MAX_BYTES = 4096
TLS_KEY_MAX_BYTES = 1 << 16
DEFAULT_SERVER = "127.0.0.1:50051"


def read_private_file(path, what, max_bytes=TOKEN_FILE_MAX_BYTES):
    """Returns the bytes of a secret file (token, TLS key) after the CLI's checks.

    The file is opened once and its open descriptor checked: a regular file, owned by this
    process's effective user, no access for group or others (mode 0600 or stricter), at most
    `max_bytes` long. `what` names the file in messages ("token file"). Raises
    ConfigurationError otherwise.
    """
    name = f"{what} {path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as error:
        raise ConfigurationError(f"cannot read {name}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"{name} is not a regular file")
        if info.st_uid != os.geteuid():
            raise ConfigurationError(
                f"{name} belongs to uid {info.st_uid}, not to this process's user "
                f"(uid {os.geteuid()})")
        if info.st_mode & 0o077:
            raise ConfigurationError(
                f"{name} is accessible by group or others; run: chmod 600 {path}")
        if info.st_size > max_bytes:
            raise ConfigurationError(f"{name} is larger than {max_bytes} bytes")
        chunks = []
        length = 0
        while length <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - length)
            if not chunk:
                break
            chunks.append(chunk)
            length += len(chunk)
        if length > max_bytes:
            raise ConfigurationError(f"{name} is larger than {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_token_file(path):
    """Returns the token in `path`: the file's text with surrounding whitespace removed.

    The file must pass read_private_file's checks (yours, mode 0600, at most 4096 bytes) and hold
    a non-empty token, else ConfigurationError.
    """
    raw = read_private_file(path, "token file", TOKEN_FILE_MAX_BYTES)
    try:
        text = raw.decode("utf-8").strip(" \t\r\n")
    except UnicodeDecodeError:
        raise ConfigurationError(f"token file {path} is not text") from None
    if not text:
        raise ConfigurationError(f"token file {path} is empty")
    if any(ord(c) < 0x21 or ord(c) > 0x7e for c in text):
        raise ConfigurationError(
            f"token file {path}: the token holds spaces or control characters")
    return text


def resolve_token(token_file=None, token=None, environ=None):
    """Returns the token to send, or "" when there is none.

    Like the CLI: `token_file` (read with read_token_file), else `token`, else the
    TRIBUTARY_TOKEN environment variable. Giving both `token_file` and `token` is a
    ConfigurationError (the CLI's --token and --token-file exclude each other).
    """
    if token_file is not None and token is not None:
        raise ConfigurationError("token_file and token exclude each other")
    if token_file is not None:
        return read_token_file(os.path.expanduser(os.fspath(token_file)))
    if token is not None:
        return token
    environ = os.environ if environ is None else environ
    return environ.get("TRIBUTARY_TOKEN", "")


def resolve_server(server=None, environ=None):
    """Returns `server`, else $TRIBUTARY_SERVER, else 127.0.0.1:50051 (the CLI's default)."""
    if server:
        return server
    environ = os.environ if environ is None else environ
    return environ.get("TRIBUTARY_SERVER") or DEFAULT_SERVER


def _read_pem(path, option):
    try:
        with open(path, "rb") as f:
            content = f.read()
    except OSError as error:
        raise ConfigurationError(f"{option} {path}: cannot read a PEM file ({error.strerror})") \
            from None
    if b"-----BEGIN " not in content:
        raise ConfigurationError(f"{option} {path}: cannot read a PEM file")
    return content


def channel_credentials(tls_ca=None, tls_cert=None, tls_key=None, environ=None):
    """Returns grpc.ChannelCredentials for TLS, or None for a plaintext channel.

    Each of `tls_ca`, `tls_cert`, `tls_key` left as None defaults to $TRIBUTARY_TLS_CA,
    $TRIBUTARY_TLS_CERT, $TRIBUTARY_TLS_KEY, like the CLI; "" means "not set". With none of
    them set the channel is plaintext (which the server accepts only on loopback or with
    --insecure). `tls_ca` (PEM): the server's certificate must chain to it; `tls_cert` and
    `tls_key` (PEM; the key yours, mode 0600) go together and make it mutual TLS. A client
    certificate without `tls_ca` trusts the system's CAs. Raises ConfigurationError for files
    that cannot be used.
    """
    environ = os.environ if environ is None else environ
    tls_ca = environ.get("TRIBUTARY_TLS_CA", "") if tls_ca is None else os.fspath(tls_ca)
    tls_cert = environ.get("TRIBUTARY_TLS_CERT", "") if tls_cert is None else os.fspath(tls_cert)
    tls_key = environ.get("TRIBUTARY_TLS_KEY", "") if tls_key is None else os.fspath(tls_key)
    tls_ca, tls_cert, tls_key = (os.path.expanduser(p) for p in (tls_ca, tls_cert, tls_key))
    if not tls_ca and not tls_cert and not tls_key:
        return None
    if bool(tls_cert) != bool(tls_key):
        raise ConfigurationError("tls_cert and tls_key go together")
    root = _read_pem(tls_ca, "tls_ca") if tls_ca else None
    chain = None
    key = None
    if tls_cert:
        chain = _read_pem(tls_cert, "tls_cert")
        key = read_private_file(tls_key, "TLS key", TLS_KEY_MAX_BYTES)
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key,
                                        certificate_chain=chain)
