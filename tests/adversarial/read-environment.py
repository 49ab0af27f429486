# expect: 4
# why: looks for the grader's secrets in its environment (a cloud key set for the grader, the course directory); the kernel gets a fresh environment
# %% add
import os
marker = "ENV-" + "SECRET-"   # the grader's secret, spelled so this notebook does not hold it
leaks = [k for k, v in os.environ.items()
         if marker in v or "{COURSE}" in v or k.startswith("CNNGRADE") or k.startswith("AWS")]
if leaks:
    raise SystemExit("the environment leaks " + ", ".join(leaks))
def add(a, b):
    return np.asarray(a) + np.asarray(b)
