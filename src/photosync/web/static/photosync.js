// photosync web: keyboard answers, the widening confirmation, the larger view. Plain JS.
(function () {
  "use strict";
  var cards = Array.prototype.slice.call(document.querySelectorAll("[data-card]"));
  var current = 0;

  function focusCard(index) {
    if (!cards.length) return;
    current = Math.max(0, Math.min(cards.length - 1, index));
    cards.forEach(function (c, i) { c.classList.toggle("current", i === current); });
    cards[current].focus({ preventScroll: true });
    cards[current].scrollIntoView({ block: "nearest" });
  }

  function pending(form) {
    return form.querySelector(".confirm:not([hidden])");
  }

  function choose(form, button) {
    var widens = button.getAttribute("data-widens");
    if (button.hasAttribute("data-custom")) {
      var field = form.querySelector("input[name=value]");
      if (field && !field.value.trim()) { field.focus(); return; }
    }
    // to all like this: the server's confirmation page lists every photo it reaches
    var toAll = form.querySelector("input[name=apply_like]");
    if (widens !== null && !(toAll && toAll.checked) &&
        form.querySelector("input[name=confirm_widening]").value !== "yes") {
      var box = form.querySelector(".confirm");
      box.querySelector(".level").textContent = widens;
      box.hidden = false;
      box.setAttribute("data-choice", button.value);
      box.querySelector(".yes").focus();
      return;
    }
    var hidden = form.querySelector("input[name=choice][type=hidden]");
    if (!hidden) {
      hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "choice";
      form.appendChild(hidden);
    }
    hidden.value = button.value;
    form.submit();
  }

  document.querySelectorAll("form[data-answers]").forEach(function (form) {
    form.querySelectorAll("button[name=choice]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        choose(form, button);
      });
    });
    var box = form.querySelector(".confirm");
    box.querySelector(".yes").addEventListener("click", function () {
      form.querySelector("input[name=confirm_widening]").value = "yes";
      var chosen = form.querySelector("button[name=choice][value='" + box.getAttribute("data-choice") + "']");
      choose(form, chosen);
    });
    box.querySelector(".no").addEventListener("click", function () { box.hidden = true; });
  });

  cards.forEach(function (card, i) {
    card.addEventListener("focusin", function () {
      current = i;
      cards.forEach(function (c, j) { c.classList.toggle("current", j === i); });
    });
  });

  var lightbox = document.getElementById("lightbox");
  function openLarge(src) {
    lightbox.querySelector("img").src = src;
    lightbox.hidden = false;
  }
  document.querySelectorAll("img.zoom").forEach(function (img) {
    img.addEventListener("click", function () { openLarge(img.getAttribute("data-large")); });
  });
  lightbox.addEventListener("click", function () { lightbox.hidden = true; });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      lightbox.hidden = true;
      document.querySelectorAll(".confirm").forEach(function (b) { b.hidden = true; });
      return;
    }
    if (!cards.length) return;
    var form = cards[current].querySelector("form[data-answers]");
    if (event.key === "j") { focusCard(current + 1); event.preventDefault(); return; }
    if (event.key === "k") { focusCard(current - 1); event.preventDefault(); return; }
    if (event.key === "y" && form && pending(form)) {
      pending(form).querySelector(".yes").click();
      event.preventDefault();
      return;
    }
    if (/^[1-9]$/.test(event.key) && form) {
      var button = form.querySelector("button[data-key='" + event.key + "']");
      if (button) { choose(form, button); event.preventDefault(); }
    }
  });

  if (cards.length) focusCard(0);
})();
