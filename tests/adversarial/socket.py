# expect: 4
# why: opens TCP connections to the internet, to the host's loopback services and to the grader's real listeners (on loopback and on the machine's address); the sandbox has no network
# %% add
import socket
for host, port in [("1.1.1.1", 80), ("8.8.8.8", 53), ("127.0.0.1", 22), ("127.0.0.1", 6379), ("127.0.0.1", 8888), *{LISTENERS}]:
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
    except OSError:
        continue
    finally:
        s.close()
    raise SystemExit(f"connected to {host}:{port}")
def add(a, b):
    return np.asarray(a) + np.asarray(b)
