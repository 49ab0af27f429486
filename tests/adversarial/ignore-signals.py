# expect: 3
# why: ignores SIGINT/SIGTERM and loops; stopping a cell does not depend on the kernel's cooperation
# %% square
import signal
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
while True:
    try:
        pass
    except BaseException:
        pass
