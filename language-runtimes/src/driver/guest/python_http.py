# Network patch for the Python guest: urllib.request and http.client over the host channel.
#
# Executed inside the guest module `soulbox` once `_frame(request) -> value` (raising
# `ToolError` with `.kind`) exists. The WASI build has neither sockets nor ssl, so this gives
# http.client's HTTPConnection, and a new HTTPSConnection, a stand-in socket: the request
# http.client writes into it is sent whole as one `{"op":"http"}` frame; the host checks it
# against the sandbox's allow_hosts (and the address rules), makes it, follows redirects, and
# returns the response, which http.client then parses as if it came off a socket.
#
# Import-light: nothing is imported here but `sys`. A finder on `sys.meta_path` patches
# http.client when it is first imported (urllib.request imports it, so urllib's
# HTTPSHandler exists too), or right away if it already is.
#
# Failures: a refused URL raises PermissionError (urllib: URLError whose `reason` is that
# PermissionError), a request over time TimeoutError, a failed one ConnectionError, a limit
# OSError; each carries `.kind` (`denied`, `timeout`, `network`, `limit`, `payload`, ...) and
# the host's message.


def _http_error(error):
    kind = getattr(error, "kind", None) or "network"
    message = getattr(error, "message", None) or str(error)
    if kind == "denied":
        mapped = PermissionError(message)
    elif kind == "timeout":
        mapped = TimeoutError(message)
    elif kind == "network":
        mapped = ConnectionError(message)
    else:
        mapped = OSError(message)
    mapped.kind = kind
    return mapped


def _http_exchange(method, url, headers, body):
    """Sends one request through the host; returns its reply value (status, reason, url,
    headers, body as base64)."""
    import base64

    request = {
        "op": "http",
        "method": method,
        "url": url,
        "headers": [[k, v] for k, v in headers],
        "body": base64.b64encode(bytes(body)).decode("ascii") if body else None,
    }
    try:
        value = _frame(request)
    except ToolError as e:
        raise _http_error(e) from None
    value["body"] = base64.b64decode(value.get("body") or "")
    return value


class _HostSocket:
    """What http.client takes for its socket: collects the request it writes and, once the
    request is complete, makes it through the host; `makefile` then hands back the response
    as HTTP/1.1 bytes (with `Connection: close`: one request per stand-in socket)."""

    def __init__(self, scheme, host, port):
        self._scheme = scheme
        self._host = host
        self._port = port
        self._out = bytearray()
        self._reply = None

    # -- what http.client calls -------------------------------------------------------
    def sendall(self, data):
        if self._reply is not None:
            raise OSError("this connection has already sent its request")
        self._out += data
        request = self._complete()
        if request is not None:
            self._reply = self._send(*request)

    def makefile(self, mode="rb", *args, **kwargs):
        import io

        if self._reply is None:
            raise OSError(
                "the request was not complete (headers and the body its Content-Length "
                "or chunked encoding announces) when its response was asked for"
            )
        return io.BytesIO(self._reply)

    def close(self):
        self._out = bytearray()

    def settimeout(self, timeout):
        pass

    def setsockopt(self, *args):
        pass

    def shutdown(self, how):
        pass

    # -- the request --------------------------------------------------------------------
    def _complete(self):
        """(method, target, headers, body) once the bytes written form a whole request."""
        data = bytes(self._out)
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = data[:end].decode("iso-8859-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise OSError("malformed request line %r" % lines[0][:200])
        method, target = parts[0], parts[1]
        headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:
                name, value = headers[-1]
                headers[-1] = (name, value + " " + line.strip())
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise OSError("malformed request header %r" % line[:200])
            headers.append((name.strip(), value.strip()))
        rest = data[end + 4 :]
        lower = {name.lower(): value for name, value in headers}
        if "chunked" in lower.get("transfer-encoding", "").lower():
            body = self._dechunk(rest)
            if body is None:
                return None
            headers = [(n, v) for n, v in headers if n.lower() != "transfer-encoding"]
        elif "content-length" in lower:
            try:
                length = int(lower["content-length"])
            except ValueError:
                raise OSError("bad Content-Length %r" % lower["content-length"]) from None
            if len(rest) < length:
                return None
            body = rest[:length]
        else:
            body = rest
        return method, target, headers, body

    @staticmethod
    def _dechunk(data):
        body = bytearray()
        pos = 0
        while True:
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                return None
            try:
                size = int(data[pos:eol].split(b";")[0], 16)
            except ValueError:
                raise OSError("malformed chunk size in the request body") from None
            pos = eol + 2
            if size == 0:
                # Trailers end with an empty line.
                return bytes(body) if data.find(b"\r\n", pos) >= 0 else None
            if len(data) < pos + size + 2:
                return None
            body += data[pos : pos + size]
            pos += size + 2

    def _send(self, method, target, headers, body):
        if target.startswith(("http://", "https://")):
            url = target  # absolute form (a proxy was configured): the host goes direct
        else:
            host = "[%s]" % self._host if ":" in self._host else self._host
            url = "%s://%s:%d%s" % (self._scheme, host, self._port, target)
        value = _http_exchange(method, url, headers, body)
        body = value["body"]
        lines = ["HTTP/1.1 %d %s" % (value["status"], value.get("reason") or "")]
        for name, val in value.get("headers") or []:
            lowered = name.lower()
            if lowered in ("transfer-encoding", "connection", "keep-alive"):
                continue
            if lowered == "content-length" and method != "HEAD":
                continue
            lines.append("%s: %s" % (name, val))
        if method != "HEAD":
            lines.append("Content-Length: %d" % len(body))
        lines.append("Connection: close")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("iso-8859-1", "replace") + body


class _NoSSLContext:
    """The `context` urllib's HTTPSHandler asks http.client for. TLS is the host's:
    certificates are always checked against the webpki roots; a guest's context is kept
    but not consulted."""

    check_hostname = True
    verify_mode = 2  # ssl.CERT_REQUIRED

    def set_alpn_protocols(self, protocols):
        pass

    def load_verify_locations(self, *args, **kwargs):
        pass

    def load_default_certs(self, *args, **kwargs):
        pass

    def load_cert_chain(self, *args, **kwargs):
        pass


def _http_patch_client(client):
    if getattr(client, "_soulbox_patched", False):
        return
    client._soulbox_patched = True
    base = client.HTTPConnection

    def _target(conn, scheme):
        if getattr(conn, "_tunnel_host", None):
            return scheme, conn._tunnel_host, conn._tunnel_port or conn.default_port
        return scheme, conn.host, conn.port

    def connect(self):
        self.sock = _HostSocket(*_target(self, "http"))

    base.connect = connect

    class HTTPSConnection(base):
        """HTTPS through the host (which speaks TLS and checks the certificate)."""

        default_port = client.HTTPS_PORT

        def __init__(self, host, port=None, *args, context=None, **kwargs):
            # Older signatures' TLS options: the host decides TLS.
            for name in ("key_file", "cert_file", "check_hostname"):
                kwargs.pop(name, None)
            super().__init__(host, port, *args, **kwargs)
            self._context = context if context is not None else _NoSSLContext()

        def connect(self):
            self.sock = _HostSocket(*_target(self, "https"))

    HTTPSConnection.__module__ = client.__name__
    client.HTTPSConnection = HTTPSConnection
    client._create_https_context = lambda http_version=None: _NoSSLContext()
    if "HTTPSConnection" not in client.__all__:
        client.__all__.append("HTTPSConnection")


def _http_patch_urllib(request):
    """urllib.request imported before http.client was patched has no HTTPSHandler."""
    if hasattr(request, "HTTPSHandler"):
        return
    import http.client

    class HTTPSHandler(request.AbstractHTTPHandler):
        def __init__(self, debuglevel=None, context=None, check_hostname=None):
            if debuglevel is None:
                debuglevel = http.client.HTTPSConnection.debuglevel
            request.AbstractHTTPHandler.__init__(self, debuglevel)
            self._context = context if context is not None else _NoSSLContext()

        def https_open(self, req):
            return self.do_open(http.client.HTTPSConnection, req, context=self._context)

        https_request = request.AbstractHTTPHandler.do_request_

    HTTPSHandler.__module__ = request.__name__
    request.HTTPSHandler = HTTPSHandler
    if "HTTPSHandler" not in request.__all__:
        request.__all__.append("HTTPSHandler")


_HTTP_PATCHES = {"http.client": _http_patch_client, "urllib.request": _http_patch_urllib}


class _HttpPatchingLoader:
    def __init__(self, inner, patch):
        self._inner = inner
        self._patch = patch

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        self._patch(module)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _HttpFinder:
    """Patches http.client and urllib.request as they are imported."""

    def find_spec(self, name, path=None, target=None):
        patch = _HTTP_PATCHES.get(name)
        if patch is None:
            return None
        import sys

        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None:
            spec.loader = _HttpPatchingLoader(spec.loader, patch)
        return spec


def _http_install():
    import sys

    for name, patch in _HTTP_PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            patch(module)
    if not any(isinstance(f, _HttpFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _HttpFinder())


_http_install()
