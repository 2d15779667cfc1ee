// Tearline's maps and live counts. Progressive enhancement only: every decision is the
// server's; this script draws areas, lets a warning officer draw one, previews who is
// inside it, and keeps delivery counts current. Served from our own origin under a strict
// Content-Security-Policy (no inline script).
"use strict";

(function () {
  const csrf = () => (document.querySelector('input[name="csrf"]') || {}).value || "";

  const postJson = (url, body) =>
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
    }).then((r) => r.json().then((json) => ({ ok: r.ok, json })));

  const toLatLngs = (polygon) => polygon.map((p) => [p.lat, p.lon]);
  const capPoint = (ll) => `${ll.lat.toFixed(5)},${ll.lng.toFixed(5)}`;

  // The offline basemap: Natural Earth 1:10m land on water, coastlines and country
  // boundaries (world-atlas TopoJSON, decoded by topojson-client), under the configured
  // tile server when there is one. It needs no network beyond this server.
  function basemap(map, tiles) {
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: "Map tiles as configured" }).addTo(map);
    }
    if (typeof topojson === "undefined") return;
    fetch("/assets/vendor/countries-10m.json")
      .then((r) => r.json())
      .then((world) => {
        const land = topojson.feature(world, world.objects.land);
        const borders = topojson.mesh(world, world.objects.countries, (a, b) => a !== b);
        const landLayer = L.geoJSON(land, {
          interactive: false,
          style: { stroke: true, color: "#6f8796", weight: 1, fillColor: "#eef0e6", fillOpacity: tiles ? 0 : 1 },
        }).addTo(map);
        const borderLayer = L.geoJSON(borders, {
          interactive: false,
          style: { color: "#8a7f9a", weight: 1.2, dashArray: "4 3", fill: false },
        }).addTo(map);
        // Beneath everything drawn on it: the boundaries over the land, both under the areas.
        borderLayer.bringToBack();
        landLayer.bringToBack();
      })
      .catch(() => {});
    context(map);
  }

  // The deployment's own roads and places (serve --map-overlay; the demo town's), over the
  // basemap: roads as lines, places named once the map is close enough to read them.
  function context(map) {
    fetch("/assets/map-context.json")
      .then((r) => r.json())
      .then((layer) => {
        if (layer.roads.length === 0 && layer.places.length === 0) return;
        const roads = L.featureGroup().addTo(map);
        for (const road of layer.roads) {
          L.polyline(road.line.map((p) => [p.lat, p.lon]), {
            interactive: false, color: road.main ? "#c9a227" : "#9c8f7a", weight: road.main ? 4 : 2,
          }).addTo(roads);
        }
        const places = L.layerGroup();
        for (const place of layer.places) {
          L.circleMarker([place.at.lat, place.at.lon], { interactive: false, radius: 2, color: "#333", weight: 1 })
            .bindTooltip(words(place.name), { permanent: true, direction: "right", className: "place-label" })
            .addTo(places);
        }
        if (!map.hasAreas && roads.getBounds().isValid()) map.fitBounds(roads.getBounds(), { padding: [20, 20] });
        const showPlaces = () => (map.getZoom() >= 13 ? places.addTo(map) : places.remove());
        map.on("zoomend", showPlaces);
        showPlaces();
        const legend = map.getContainer().parentElement.querySelector(".legend");
        if (legend) {
          for (const [swatch, text] of [["road", "main road, street (local layer)"], ["place", "named place (local layer)"]]) {
            const item = document.createElement("li");
            const mark = document.createElement("span");
            mark.className = `swatch ${swatch}`;
            mark.setAttribute("aria-hidden", "true");
            item.append(mark, ` ${text}`);
            legend.appendChild(item);
          }
        }
        map.getContainer().dataset.contextDrawn = String(layer.roads.length + layer.places.length);
      })
      .catch(() => {});
  }

  // Text for a tooltip or popup, as text: labels come from warnings and partners' alerts
  // and are never read as HTML.
  const words = (...lines) => {
    const box = document.createElement("div");
    for (const line of lines.filter(Boolean)) {
      const p = document.createElement("p");
      p.textContent = line;
      box.appendChild(p);
    }
    return box;
  };

  // An area's colour says what it is; the page's legend names the same colours.
  const areaColour = (label) =>
    label.startsWith("Threat") ? "#b26b00" : label.startsWith("Partner") ? "#5a4fb3" : "#b3261e";

  function drawAreas(map, entries) {
    const group = L.featureGroup().addTo(map);
    for (const entry of entries) {
      const area = entry.area;
      const style = { color: areaColour(entry.label), weight: 2, fillOpacity: 0.15 };
      const popup = () => words(entry.label, area.description);
      for (const polygon of area.polygons || []) {
        L.polygon(toLatLngs(polygon), style).bindTooltip(words(entry.label)).bindPopup(popup()).addTo(group);
      }
      for (const circle of area.circles || []) {
        L.circle([circle.centre.lat, circle.centre.lon], { ...style, radius: circle.radius_km * 1000 })
          .bindTooltip(words(entry.label))
          .bindPopup(popup())
          .addTo(group);
      }
    }
    return group;
  }

  function previewer(map, element) {
    const url = element.dataset.preview;
    const counter = document.querySelector("[data-preview-count]");
    const dots = L.layerGroup().addTo(map);
    return (areas) => {
      if (!url) return;
      postJson(url, { areas }).then(({ ok, json }) => {
        dots.clearLayers();
        if (!ok) {
          if (counter) counter.textContent = json.message || "The area cannot be previewed.";
          return;
        }
        for (const p of json.sample) {
          L.circleMarker([p.lat, p.lon], { radius: 2, color: "#1f5fa8", weight: 1, fillOpacity: 0.8 }).addTo(dots);
        }
        if (counter) counter.textContent = `${json.count} registered recipients inside this area`;
        counter && (counter.dataset.count = String(json.count));
      });
    };
  }

  // Reads CAP "lat,lon lat,lon ..." (closed) into the ring's corners, without the repeat.
  const parseCap = (text) => {
    const corners = text.trim().split(/\s+/).map((pair) => pair.split(",").map(Number));
    if (corners.length < 4 || corners.some((c) => c.length !== 2 || c.some(Number.isNaN))) return null;
    return corners.slice(0, -1).map(([lat, lon]) => L.latLng(lat, lon));
  };

  function drawing(map, element, preview) {
    const field = document.querySelector("[data-polygon-field]");
    let points = [];
    const outline = L.polyline([], { color: "#b3261e" }).addTo(map);
    const handles = L.layerGroup().addTo(map);
    let closed = null;
    const ring = () => [...points, points[0]];
    // The preview counts the corners as the form sends them (rounded as CAP text), so that
    // the count shown is the count issuing reaches.
    const publish = () => {
      const corners = ring().map(capPoint);
      if (field) field.value = corners.join(" ");
      const polygon = corners.map((pair) => {
        const [lat, lon] = pair.split(",").map(Number);
        return { lat, lon };
      });
      preview([{ description: "drawn", polygons: [polygon], circles: [] }]);
    };
    // Each corner gets a handle; dragging it reshapes the area and counts again.
    const close = () => {
      closed = L.polygon(points, { color: "#b3261e", fillOpacity: 0.2 }).addTo(map);
      outline.setLatLngs([]);
      points.forEach((corner, index) => {
        const name = `Corner ${index + 1} of the area: drag to move it`;
        L.marker(corner, { draggable: true, title: name, alt: name, icon: L.divIcon({ className: "vertex", iconSize: [12, 12] }) })
          .on("drag", (event) => {
            points[index] = event.target.getLatLng();
            closed.setLatLngs(points);
          })
          .on("dragend", publish)
          .addTo(handles);
      });
      publish();
    };
    map.on("click", (event) => {
      if (closed) return;
      points.push(event.latlng);
      outline.setLatLngs(points);
    });
    const closeButton = document.querySelector("[data-map-close]");
    const clearButton = document.querySelector("[data-map-clear]");
    closeButton &&
      closeButton.addEventListener("click", () => {
        if (points.length >= 3 && !closed) close();
      });
    clearButton &&
      clearButton.addEventListener("click", () => {
        points = [];
        outline.setLatLngs([]);
        handles.clearLayers();
        if (closed) map.removeLayer(closed);
        closed = null;
        if (field) field.value = "";
      });
    const existing = field && field.value && parseCap(field.value);
    if (existing) {
      points = existing;
      close();
    }
  }

  // Recipients coloured by how their delivery stands (the legend beside the map names them).
  const stateColours = {
    queued: "#8a96a3", delivered: "#1f5fa8", acknowledged: "#5a6b7b", safe: "#2e7d32", help: "#c62828", failed: "#222",
  };
  const stateWords = {
    queued: "queued", delivered: "delivered", acknowledged: "received", safe: "safe or left", help: "needs help", failed: "not delivered",
  };

  function drawRecipients(map, points) {
    const dots = L.layerGroup().addTo(map);
    const renderer = L.canvas({ padding: 0.2 });
    for (const [lat, lon, state] of points) {
      L.circleMarker([lat, lon], { renderer, radius: state === "help" ? 5 : 3, weight: 1, color: stateColours[state] || "#555", fillOpacity: 0.85 })
        .bindPopup(words(`Recipient: ${stateWords[state] || state}`))
        .addTo(dots);
    }
    return dots;
  }

  function setUpMap(element) {
    const entries = JSON.parse(element.dataset.areas || "[]");
    // The whole world until something to show is known: the areas, or else the local layer.
    const map = L.map(element, { worldCopyJump: true }).setView([20, 0], 2);
    element.leaflet = map;
    basemap(map, element.dataset.tiles);
    const group = drawAreas(map, entries);
    map.hasAreas = entries.length > 0;
    const recipients = JSON.parse(element.dataset.recipients || "[]");
    if (recipients.length > 0) {
      drawRecipients(map, recipients);
      element.dataset.recipientsDrawn = String(recipients.length);
    }
    if (entries.length > 0 && group.getBounds().isValid()) {
      map.fitBounds(group.getBounds(), { padding: [20, 20], maxZoom: 15 });
    }
    const preview = previewer(map, element);
    if (element.dataset.draw) drawing(map, element, preview);
    if (element.hasAttribute("data-preview-existing") && entries.length > 0) {
      preview(entries.map((e) => e.area));
    }
  }

  function followDeliveries(section) {
    const url = section.dataset.deliveries;
    const refresh = () =>
      fetch(url, { credentials: "same-origin" })
        .then((r) => r.json())
        .then((json) => {
          // Acknowledged deliveries were delivered too.
          const counts = { ...json.counts, total: json.total, delivered: json.counts.sent + json.counts.acknowledged };
          for (const [name, value] of Object.entries(counts)) {
            const cell = section.querySelector(`[data-count="${name}"]`);
            if (cell) cell.textContent = String(value);
          }
        })
        .catch(() => {});
    refresh();
    setInterval(refresh, 1000);
  }

  function importForm(form) {
    const report = document.querySelector("[data-import-report]");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const file = form.querySelector('input[type="file"]').files[0];
      if (!file) return;
      const type = /\.csv$/i.test(file.name) ? "text/csv" : "application/geo+json";
      report.hidden = false;
      report.textContent = "Importing…";
      fetch(form.dataset.import, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": type, "X-CSRF-Token": form.dataset.csrf },
        body: file,
      })
        .then((r) => r.json())
        .then((json) => {
          const errors = (json.errors || []).map((e) => `row ${e.row}: ${e.reason}`);
          report.textContent = json.message || [`${json.imported} recipients registered.`, ...errors].join("\n");
        })
        .catch(() => (report.textContent = "The import did not complete. Rows already registered stay registered; importing the file again updates them by external_id."));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (window.L) document.querySelectorAll("[data-map]").forEach(setUpMap);
    document.querySelectorAll("[data-deliveries]").forEach(followDeliveries);
    document.querySelectorAll("form[data-import]").forEach(importForm);
  });
})();
