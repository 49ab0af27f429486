# expect: 4
# why: writes outside its working folder: the host's /tmp, the course directory, the repository, the Python installation (a sitecustomize.py there would run in the grader); nothing may appear on the host
# %% add
import os, site, sys
targets = ["{HOST_TMP}-write", "{COURSE}/pwned.txt", "{REPO}/pwned.txt",
           os.path.join(sys.prefix, "pwned.txt"), "/etc/pwned.txt", "/usr/pwned.txt"]
targets += [os.path.join(p, "sitecustomize.py") for p in site.getsitepackages()]
targets += [os.path.join(p, "cnngrade_pwned.pth") for p in site.getsitepackages()]
for path in targets:
    try:
        with open(path, "w") as handle:
            handle.write("import os; open('{HOST_TMP}-sitecustomize', 'w')\n")
    except OSError:
        pass
def add(a, b):
    return np.asarray(a) + np.asarray(b)
