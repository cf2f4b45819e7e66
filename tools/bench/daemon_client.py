"""One request to a running `maptrail daemon` over its Unix socket, for the benchmark scripts
(throughput.py, peers.sh, daemon_idle.sh): a JSON line out, a JSON line back."""
import json
import socket


def ask(sock_path, request, timeout=10):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall((json.dumps(request) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)
