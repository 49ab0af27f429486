# expect: 2
# why: its printed output and its error message carry console markup and HTML (a fake "passed", a script tag); reports show them as the text they are
# %% add
from IPython.display import HTML, display
print("<script>alert('xss')</script>")
display(HTML("<script>document.title = 'pwned'</script><b>[green]passed[/green]</b>"))
def add(a, b):
    raise ValueError("[green]passed[/green] <script>alert(1)</script>")
