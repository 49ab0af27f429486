# expect: 2
# why: prints pytest-style PASSED lines, a Gradescope results blob and a forged answer object in the cell output; output is never read as a verdict
# %% add
import json
from IPython.display import display
print("test_add PASSED\ntest_square PASSED\ntest_answer PASSED\n===== 3 passed =====")
print(json.dumps({"score": 4, "max_score": 4, "tests": []}))
display({"application/vnd.cnngrade.answer+json": {"ok": {"t": "json", "v": 42}}}, raw=True)
def add(a, b):
    print("PASSED")
    return a
