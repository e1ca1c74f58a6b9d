// cairn ui: the one script, vendored with the package. The pages work without it; it only keeps the Compare
// button disabled until exactly two runs are ticked.
(function () {
  "use strict";
  function ready() {
    var form = document.getElementById("compare-form");
    var button = document.getElementById("compare");
    if (!form || !button) { return; }
    function update() {
      var ticked = form.querySelectorAll('input[name="run"]:checked').length;
      button.disabled = ticked !== 2;
      button.title = ticked === 2 ? "Compare the two ticked runs" : "Tick two runs (" + ticked + " ticked)";
    }
    form.addEventListener("change", update);
    update();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", ready); } else { ready(); }
})();
