"""A rogue (or stand-in) agent for the security tests: a ZeroMQ DEALER to a
master's agents endpoint, speaking HPT/2 with or without CURVE keys.

As a module: Rogue(endpoint, public, secret, server). As a program, so that
a test can run it inside a network namespace:

    python3 hpt_rogue.py ENDPOINT NAME [--keys CERT_SECRET MASTER_CERT | --random-key SERVER_CERT]

sends HELLO as NAME (a few times, a second apart) and prints the first
answer as JSON {"signature": ..., "body": ...}, or {"signature": null}
when none came."""
import json
import re
import sys

import zmq


def cert_keys(path):
    """(public, secret or None) of a czmq certificate file, as Z85 bytes."""
    with open(path) as f:
        text = f.read()
    public = re.search(r'public-key = "(.+)"', text).group(1)
    secret = re.search(r'secret-key = "(.+)"', text)
    return public.encode(), secret.group(1).encode() if secret else None


def hello(name):
    return {"protocol": 2, "name": name, "version": "0", "advertise": "127.0.0.1",
            "ports": [21000, 21100], "resources": {"cpus": 1, "memoryGb": 1}, "tasks": [],
            "ackedSeq": 0, "lastSeq": 0}


class Rogue:
    """A DEALER to the agents endpoint, CURVE when keys are given."""

    def __init__(self, endpoint, public=None, secret=None, server=None, timeout_ms=2000):
        self.context = zmq.Context()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
        #  A connection whose handshake failed has no pipe to queue into:
        #  a send must not wait for one forever.
        self.sock.setsockopt(zmq.SNDTIMEO, timeout_ms)
        if public:
            self.sock.curve_publickey, self.sock.curve_secretkey = public, secret
            self.sock.curve_serverkey = server
        self.sock.connect(endpoint)

    def send(self, kind, body):
        """Sends; False when nothing could take the message."""
        try:
            self.sock.send_multipart([f"HPT/2 {kind}".encode(), json.dumps(body).encode()])
            return True
        except zmq.Again:
            return False

    def recv(self):
        try:
            signature, body = self.sock.recv_multipart()
        except zmq.Again:
            return None, None
        return signature.decode(), json.loads(body)

    def hello(self, name, tries=3):
        """HELLO as name until something answers; the answer or (None, None)."""
        for _ in range(tries):
            self.send("HELLO", hello(name))
            answer = self.recv()
            if answer[0]:
                return answer
        return None, None

    def close(self):
        self.context.destroy(linger=0)


def main(argv):
    endpoint, name = argv[1], argv[2]
    public = secret = server = None
    if len(argv) > 3 and argv[3] == "--keys":
        public, secret = cert_keys(argv[4])
        server, _ = cert_keys(argv[5])
    elif len(argv) > 3 and argv[3] == "--random-key":
        public, secret = zmq.curve_keypair()
        server, _ = cert_keys(argv[4])
    rogue = Rogue(endpoint, public, secret, server, timeout_ms=1000)
    signature, body = rogue.hello(name)
    rogue.close()
    print(json.dumps({"signature": signature, "body": body}))


if __name__ == "__main__":
    main(sys.argv)
