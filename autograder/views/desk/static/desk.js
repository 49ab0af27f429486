// The rubric's keys: 1-9 toggle the items of the grade-by-question form (not while typing).
document.addEventListener("keydown", function (event) {
  var form = document.getElementById("grade-form");
  if (!form || event.ctrlKey || event.metaKey || event.altKey) { return; }
  var tag = (event.target && event.target.tagName) || "";
  if (tag === "TEXTAREA" || tag === "INPUT" && event.target.type !== "checkbox") { return; }
  if (event.key >= "1" && event.key <= "9") {
    var box = form.querySelector('input[data-key="' + event.key + '"]');
    if (box) { box.checked = !box.checked; event.preventDefault(); }
  }
});
