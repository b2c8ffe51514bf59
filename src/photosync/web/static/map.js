// The map page: one marker per photo with a location. Works without tiles (offline).
(function () {
  "use strict";
  var points = JSON.parse(document.getElementById("places").textContent);
  var map = L.map("map", { worldCopyJump: true });
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: "&copy; OpenStreetMap contributors"
  }).addTo(map);
  var bounds = [];
  points.forEach(function (p) {
    var popup = document.createElement("a");
    popup.href = p.url;
    var img = document.createElement("img");
    img.src = p.thumb;
    img.alt = p.name;
    img.width = 160;
    popup.appendChild(img);
    popup.appendChild(document.createElement("br"));
    popup.appendChild(document.createTextNode(p.name + " " + p.taken));
    L.circleMarker([p.lat, p.lng], { radius: 7, weight: 2 }).bindPopup(popup).addTo(map);
    bounds.push([p.lat, p.lng]);
  });
  if (bounds.length) {
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: 14 });
  } else {
    map.setView([20, 0], 2);
  }
})();
