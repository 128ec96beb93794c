"""Stand-ins for hptmaster: its REST API (FakeMaster, for testing the `hpt`
CLI alone) and its agents endpoint (WireMaster, HPT/2, for testing a real
hptagent alone).

FakeMaster runs http.server on 127.0.0.1 (port 0: the kernel picks a free
one) in a thread. A test routes (method, path) to an answer and reads back
every request the CLI made. An answer is one of:

- (status, obj): obj is sent as JSON (or as is when it is bytes/str),
- a list of such pairs: served in turn, the last one repeating,
- obj may be Chunked([bytes, ...]): sent with chunked transfer encoding
  (no Content-Length), as a streaming server would,
- a callable(request) -> (status, obj), for answers that depend on the
  query (the logs cursor).

Unrouted requests get 404 NOT_FOUND in Google's error shape, like the
real master would."""
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Chunked(list):
    """An answer body sent in chunks without a Content-Length."""


class Request:
    def __init__(self, method, raw_path, headers, body):
        self.method = method
        self.raw_path = raw_path
        parts = urllib.parse.urlsplit(raw_path)
        self.path = urllib.parse.unquote(parts.path)
        self.raw_query = parts.query
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return f"Request({self.method} {self.raw_path})"


def google_error(code, status, message, violations=None):
    """Google's error shape, as the master writes it."""
    error = {"code": code, "message": message, "status": status}
    if violations:
        error["details"] = [{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": f, "description": d} for f, d in violations],
        }]
    return {"error": error}


class FakeMaster:
    def __init__(self, port=0):
        self.routes = {}
        self.requests = []
        self._lock = threading.Lock()
        master = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers), body)
                with master._lock:
                    master.requests.append(request)
                    answer = master.routes.get((request.method, request.path))
                    if isinstance(answer, list):
                        answer = answer.pop(0) if len(answer) > 1 else answer[0]
                if answer is None:
                    status, obj = 404, google_error(404, "NOT_FOUND", f"no route {request.path}")
                elif callable(answer):
                    status, obj = answer(request)
                else:
                    status, obj = answer
                if isinstance(obj, Chunked):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        for chunk in obj:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    except OSError:
                        self.close_connection = True   # the client hung up, as it may
                    return
                if isinstance(obj, bytes):
                    data = obj
                elif isinstance(obj, str):
                    data = obj.encode()
                else:
                    data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def route(self, method, path, answer):
        self.routes[(method, path)] = answer

    def made(self, method=None, path=None):
        """Requests made so far, optionally only those of method/path."""
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and (path is None or r.path == path)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class WireMaster:
    """The master's agents endpoint, played by a test: a ZeroMQ ROUTER on a
    free loopback port speaking HPT/2 (proto/PROTOCOL.md) by hand, so a test
    sees every message a real hptagent sends and answers what it likes,
    including what a real master never would (another version's REJECT).
    Messages go to the agent that spoke last. Needs pyzmq (tests skip
    without it)."""

    VERSION = 2

    def __init__(self):
        import zmq
        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.peer = None

    def recv(self, timeout=10.0):
        """The next message as (version, type, body), or None when none came
        within timeout seconds."""
        if not self.router.poll(int(timeout * 1000)):
            return None
        self.peer, signature, body = self.router.recv_multipart()
        version, kind = signature.decode().split(" ", 1)
        return int(version[len("HPT/"):]), kind, json.loads(body)

    def expect(self, kind, timeout=10.0, seen=None):
        """The body of the next message of type kind (others are skipped,
        and appended to seen when given as a list)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.recv(max(0.0, deadline - time.time()))
            if got and got[1] == kind:
                assert got[0] == self.VERSION, got
                return got[2]
            if got and seen is not None:
                seen.append(got)
        raise AssertionError(f"no {kind} within {timeout}s")

    def send(self, kind, body, version=VERSION):
        self.router.send_multipart([self.peer, f"HPT/{version} {kind}".encode(),
                                    json.dumps(body).encode()])

    def welcome(self, epoch=1, acked_seq=0, heartbeat_ms=1000, agent_timeout_ms=60000):
        self.send("WELCOME", {"protocol": self.VERSION, "heartbeatMs": heartbeat_ms,
                              "agentTimeoutMs": agent_timeout_ms, "masterEpoch": epoch,
                              "ackedSeq": acked_seq})

    def close(self):
        self.router.close()
        self.context.term()
