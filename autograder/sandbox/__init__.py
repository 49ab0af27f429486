"""The untrusted side's walls and its only door: the sandbox command line (walls), the Jupyter
kernel started inside it (jupyter), one submission's kernel run cell by cell under its limits
(student_kernel, cputime, machine), the `student` proxy through which the trusted checker calls
into it (proxy) and the files it leaves behind, read safely (artifacts).
Imports only cnngrade.course."""
