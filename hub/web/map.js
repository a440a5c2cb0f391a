// The "map" view: every station, reservoir, rain gauge, camera and node on a Leaflet map, coloured by its worst active
// alarm and told apart by shape and a label; areas wear their QĐ 18/2021 risk colour. Points without a position are
// listed beside the map. Markers are SVG paths kept across refreshes (setStyle in place); the map is fitted to the
// points once, or opened at the point a #map/<node_id> link names. Drawn with the helpers of app.js.
"use strict";

(() => {
  // Shapes as well as colours: a colour-blind officer, or a grey printout, still tells a reservoir from a camera.
  const KINDS = {
    // An area is a wide, see-through octagon under the points in it, its name below (not beside theirs).
    area: { words: "Khu vực (cấp độ rủi ro)", shape: "octagon", size: 16, go: "Xem cảnh báo", under: true },
    station: { words: "Trạm thủy văn", shape: "circle", size: 8, go: "Xem mực nước" },
    reservoir: { words: "Hồ chứa", shape: "square", size: 8, go: "Xem hồ chứa" },
    rain_gauge: { words: "Trạm đo mưa", shape: "diamond", size: 9, go: "Xem lượng mưa" },
    camera: { words: "Camera", shape: "triangle", size: 9, go: "Xem camera" },
    node: { words: "Thiết bị", shape: "hexagon", size: 7, go: "Xem thiết bị" },
  };
  // The nodes view's words for the same link states.
  const LINKS = {
    online: "Trực tuyến",
    offline: "Mất kết nối",
    silent: "Không có tín hiệu",
    stopped: "Đã dừng",
    never_seen: "Chưa từng kết nối",
  };
  const OFFLINE_WORDS = ["offline", "silent", "stopped", "never_seen"].map((k) => LINKS[k].toLowerCase()).join(", ");
  const LABEL_ZOOM = 11; // names on every point from this zoom; below it, only when there are few points
  const FEW = 40;
  const FOCUS_ZOOM = 13;
  const SPREAD_PX = 11; // points sharing a position (a station and its node's camera) are drawn side by side
  const SCALE = WALL ? 1.4 : 1;
  const SVG_NS = "http://www.w3.org/2000/svg";

  let view = null; // { map, canvas, legend, unplaced, markers: Map(id -> entry), fitted, palette }
  let wanted = null; // the point a #map/<arg> link asks for, until it has been shown

  function polygon(x, y, r, n, turn) {
    const pts = [];
    for (let i = 0; i < n; i++) {
      const a = turn + (2 * Math.PI * i) / n;
      pts.push(`${(x + r * Math.cos(a)).toFixed(1)},${(y + r * Math.sin(a)).toFixed(1)}`);
    }
    return `M${pts.join("L")}z`;
  }

  function shapePath(shape, x, y, r) {
    switch (shape) {
      case "square":
        return polygon(x, y, r * 1.2, 4, Math.PI / 4);
      case "diamond":
        return polygon(x, y, r * 1.2, 4, 0);
      case "triangle":
        return polygon(x, y + r * 0.2, r * 1.25, 3, -Math.PI / 2);
      case "hexagon":
        return polygon(x, y, r * 1.1, 6, 0);
      case "octagon":
        return polygon(x, y, r, 8, Math.PI / 8);
      default:
        return `M${x - r},${y}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0z`;
    }
  }

  // A CircleMarker (so setStyle, popups, tooltips and the SVG renderer all work) drawn as its kind's shape.
  let ShapeMarker = null;

  function shapeMarkerClass() {
    return L.CircleMarker.extend({
      options: { shape: "circle", shift: [0, 0] },
      _updatePath() {
        if (this._empty()) return this._renderer._setPath(this, "M0 0");
        const [dx, dy] = this.options.shift;
        const { x, y } = this._point;
        this._renderer._setPath(this, shapePath(this.options.shape, x + dx, y + dy, this._radius));
      },
    });
  }

  function swatchSvg(shape, fill, stroke) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("width", "18");
    svg.setAttribute("height", "18");
    svg.setAttribute("viewBox", "0 0 18 18");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", shapePath(shape, 9, 9, 6.5));
    path.setAttribute("fill", fill);
    path.setAttribute("stroke", stroke || "#222");
    path.setAttribute("stroke-width", "1.2");
    svg.append(path);
    return svg;
  }

  function badge(words, fill, palette) {
    const span = el("span", words, "map-badge");
    span.style.backgroundColor = fill;
    span.style.color = palette.text.get(fill) || "#000000";
    return span;
  }

  function unheard(point) {
    return !!point.link && point.link !== "online";
  }

  // What a point's marker wears: the worst alarm's colour, else green (quiet) or grey (its node is not online, so its
  // level is unknown rather than normal).
  function looks(point, palette) {
    if (point.level) return { fill: point.level.fill, words: point.level.words, key: point.level.severity };
    if (unheard(point)) return { fill: palette.unknown.fill, words: palette.unknown.words, key: "unknown" };
    return { fill: palette.quiet.fill, words: palette.quiet.words, key: "quiet" };
  }

  function labelText(point) {
    const parts = [point.name];
    if (point.level) parts.push(point.level.words);
    if (unheard(point)) parts.push(LINKS[point.link].toLowerCase());
    return parts.join(" · ");
  }

  function popupFor(entry) {
    const point = entry.point;
    const palette = view.palette;
    const kind = KINDS[point.kind] || KINDS.node;
    const box = el("div", null, "map-popup");
    const title = el("h3", point.name);
    title.title = point.id;
    box.append(title, el("p", kind.words, "muted"));
    const look = looks(point, palette);
    const level = el("p", "Mức: ");
    level.append(badge(look.words, look.fill, palette));
    if (point.level) {
      const rule = RULES[point.level.rule] || point.level.rule;
      const severity = SEVERITY_VI[point.level.severity];
      level.append(el("span", ` ${rule}${severity && severity !== look.words ? ` · ${severity}` : ""}`));
    }
    box.append(level);
    if (point.area) box.append(el("p", `Khu vực: ${view.areas[point.area] || point.area}`));
    if (point.link) box.append(el("p", `Kết nối: ${LINKS[point.link] || point.link}`));
    if (point.also && point.also.length) {
      const list = el("ul", null, "map-also");
      for (const a of point.also) list.append(el("li", `${RULES[a.rule] || a.rule}: ${a.words}`));
      box.append(el("p", "Cảnh báo khác:"), list);
    }
    const links = el("p", null, "map-links");
    const go = el("a", kind.go);
    go.href = point.href;
    links.append(go);
    if (point.node && point.kind !== "node") {
      const node = el("a", "Xem thiết bị");
      node.href = `#nodes/${point.node}`;
      links.append(node);
    }
    box.append(links);
    return box;
  }

  function build(section, data) {
    const layout = el("div", null, "map-layout");
    const canvas = el("div", null, "map-canvas");
    canvas.id = "map-canvas";
    canvas.setAttribute("role", "region");
    canvas.setAttribute("aria-label", "Bản đồ các trạm, camera và thiết bị");
    const side = el("aside", null, "map-side");
    const legend = el("section", null, "map-legend");
    legend.id = "map-legend";
    legend.setAttribute("aria-label", "Chú giải");
    const unplaced = el("section", null, "map-unplaced");
    unplaced.id = "map-unplaced";
    side.append(legend, unplaced);
    layout.append(canvas, side);
    section.replaceChildren(layout);

    ShapeMarker = ShapeMarker || shapeMarkerClass();
    const map = L.map(canvas, {
      renderer: L.svg({ padding: 0.5 }),
      zoomControl: !WALL,
      attributionControl: false, // Leaflet writes attributions as HTML: ours is drawn as text below
      maxZoom: data.max_zoom,
      center: data.center,
      zoom: data.zoom,
    });
    if (data.tiles_url) {
      L.tileLayer(data.tiles_url, { maxZoom: data.max_zoom }).addTo(map);
      if (data.attribution) {
        const control = L.control({ position: "bottomright" });
        control.onAdd = () => el("div", data.attribution, "leaflet-control-attribution map-attribution");
        control.addTo(map);
      }
    }
    const { severities, risk, quiet, unknown } = data.legend;
    // Text colours by fill: the hub's legend says which colour reads on which.
    const text = new Map([...severities, ...risk, quiet, unknown].map((s) => [s.fill, s.text]));
    const palette = { quiet, unknown, text };
    view = { map, canvas, legend, unplaced, markers: new Map(), fitted: false, palette, areas: {}, unplacedSig: "" };
    map.on("zoomend", showLabels);
    drawLegend(legend, data);
  }

  function drawLegend(box, data) {
    const item = (svg, words) => {
      const li = el("li", null, "map-swatch");
      li.append(svg, el("span", words));
      return li;
    };
    const levels = el("ul");
    for (const s of data.legend.severities) levels.append(item(swatchSvg("circle", s.fill), s.words));
    levels.append(item(swatchSvg("circle", data.legend.quiet.fill), data.legend.quiet.words));
    levels.append(item(swatchSvg("circle", data.legend.unknown.fill, "#555"), data.legend.unknown.words));
    const risk = el("ul");
    for (const s of data.legend.risk) risk.append(item(swatchSvg("octagon", s.fill), s.words));
    const kinds = el("ul");
    for (const k of Object.values(KINDS)) kinds.append(item(swatchSvg(k.shape, "#FFFFFF"), k.words));
    const base = data.tiles_url
      ? "Nền bản đồ: máy chủ bản đồ của trung tâm."
      : "Không dùng nền bản đồ: chỉ các điểm và tên.";
    const bounds = "Chưa có ranh giới hành chính (chưa có nguồn mở cho các đơn vị sau 01/7/2025).";
    box.replaceChildren(
      el("h2", "Chú giải"),
      el("h3", "Mức cảnh báo"),
      levels,
      el("h3", "Cấp độ rủi ro thiên tai (QĐ 18/2021/QĐ-TTg)"),
      risk,
      el("h3", "Loại điểm"),
      kinds,
      el("p", `Viền nét đứt: thiết bị không trực tuyến (${OFFLINE_WORDS}).`, "muted"),
      el("p", `${base} ${bounds}`, "muted"),
    );
  }

  function showLabels() {
    view.canvas.classList.toggle("map-labels-on", view.markers.size <= FEW || view.map.getZoom() >= LABEL_ZOOM);
  }

  // Points at the same spot (a station and the camera on its mast) go round it, so neither hides the other.
  function spreads(points) {
    const at = new Map();
    for (const p of points) {
      const key = `${p.lat},${p.lon}`;
      at.set(key, [...(at.get(key) || []), p.id]);
    }
    const out = new Map();
    for (const ids of at.values()) {
      ids.forEach((id, i) => {
        if (ids.length === 1) return out.set(id, [0, 0]);
        const a = (2 * Math.PI * i) / ids.length - Math.PI / 2;
        out.set(id, [Math.round(SPREAD_PX * Math.cos(a)), Math.round(SPREAD_PX * Math.sin(a))]);
      });
    }
    return out;
  }

  function styleOf(point, look) {
    const off = unheard(point);
    const under = (KINDS[point.kind] || KINDS.node).under;
    return {
      fillColor: look.fill,
      fillOpacity: under ? 0.45 : 0.95,
      color: off ? "#555555" : "#1A1A1A",
      weight: point.level ? 2 : 1.2,
      dashArray: off ? "3 2" : null,
    };
  }

  function tag(entry, look) {
    const path = entry.marker.getElement();
    if (!path) return;
    path.setAttribute("data-point", entry.point.id);
    path.setAttribute("data-kind", entry.point.kind);
    path.setAttribute("data-level", look.key);
    path.setAttribute("aria-label", `${entry.point.name}: ${look.words}`);
  }

  function place(entry, point, shift) {
    const kind = KINDS[point.kind] || KINDS.node;
    const look = looks(point, view.palette);
    const sig = JSON.stringify([point.name, point.level, point.link, point.also, point.area, look.fill]);
    if (!entry.marker) {
      entry.marker = new ShapeMarker([point.lat, point.lon], {
        shape: kind.shape,
        shift,
        radius: kind.size * SCALE,
        ...styleOf(point, look),
      });
      entry.label = el("span");
      const r = kind.size * SCALE;
      entry.marker.bindTooltip(entry.label, {
        permanent: true,
        direction: kind.under ? "bottom" : "right",
        offset: kind.under ? [0, r] : [r + 4 + shift[0], shift[1]],
        className: "map-label",
      });
      entry.marker.bindPopup(() => popupFor(entry), { maxWidth: WALL ? 420 : 280 });
      entry.marker.addTo(view.map);
      if (kind.under) entry.marker.bringToBack();
    } else {
      const ll = entry.marker.getLatLng();
      if (ll.lat !== point.lat || ll.lng !== point.lon) entry.marker.setLatLng([point.lat, point.lon]);
      if (entry.marker.options.shift.join() !== shift.join()) {
        entry.marker.options.shift = shift;
        entry.marker.redraw();
      }
      if (entry.sig !== sig) entry.marker.setStyle(styleOf(point, look));
    }
    if (entry.sig !== sig) {
      entry.label.textContent = labelText(point);
      tag(entry, look);
      if (entry.marker.isPopupOpen()) entry.marker.getPopup().update();
      entry.sig = sig;
    }
  }

  function update(data) {
    view.areas = data.areas || {};
    const placed = data.points.filter((p) => p.lat != null && p.lon != null);
    const shifts = spreads(placed.filter((p) => !(KINDS[p.kind] || KINDS.node).under));
    const seen = new Set();
    for (const point of placed) {
      seen.add(point.id);
      const entry = view.markers.get(point.id) || { point };
      entry.point = point;
      place(entry, point, shifts.get(point.id) || [0, 0]);
      view.markers.set(point.id, entry);
    }
    for (const [id, entry] of view.markers) {
      if (!seen.has(id)) {
        entry.marker.remove();
        view.markers.delete(id);
      }
    }
    drawUnplaced(data.points.filter((p) => p.lat == null || p.lon == null));
    showLabels();
    return placed;
  }

  function drawUnplaced(points) {
    const sig = JSON.stringify(points.map((p) => [p.id, p.name, p.level, p.link, p.area]));
    if (sig === view.unplacedSig) return;
    view.unplacedSig = sig;
    const list = el("ul");
    for (const p of [...points].sort((a, b) => a.name.localeCompare(b.name, "vi"))) {
      const look = looks(p, view.palette);
      const li = el("li", null, "map-unplaced-point");
      li.dataset.point = p.id;
      const a = el("a", p.name);
      a.href = p.href;
      a.title = p.id;
      const kind = KINDS[p.kind] || KINDS.node;
      li.append(swatchSvg(kind.shape, look.fill, unheard(p) ? "#555" : null), a);
      li.append(el("span", ` ${kind.words} · `, "muted"), badge(look.words, look.fill, view.palette));
      if (p.area) li.append(el("span", ` · ${view.areas[p.area] || p.area}`, "muted"));
      list.append(li);
    }
    view.unplaced.replaceChildren(
      el("h2", `Chưa có toạ độ (${points.length})`),
      points.length ? list : el("p", "Mọi điểm đều đã có toạ độ.", "muted"),
    );
  }

  function fit(placed) {
    if (view.fitted || !placed.length) return;
    view.fitted = true;
    if (placed.length === 1) view.map.setView([placed[0].lat, placed[0].lon], FOCUS_ZOOM);
    else view.map.fitBounds(placed.map((p) => [p.lat, p.lon]), { padding: [30, 30], maxZoom: FOCUS_ZOOM });
  }

  // #map/<arg>: a node id (its points), or a point's id or key (station:hong-long-bien, hong-long-bien).
  function focus(arg, points) {
    const matches = points.filter((p) => p.id === arg || p.node === arg || p.id.slice(p.id.indexOf(":") + 1) === arg);
    const entry = matches.map((p) => view.markers.get(p.id)).find(Boolean);
    if (entry) {
      view.fitted = true;
      view.map.setView(entry.marker.getLatLng(), Math.max(view.map.getZoom(), FOCUS_ZOOM), { animate: false });
      entry.marker.openPopup();
      return;
    }
    for (const li of view.unplaced.querySelectorAll(".map-focus")) li.classList.remove("map-focus");
    const li = matches.length && view.unplaced.querySelector(`li[data-point="${CSS.escape(matches[0].id)}"]`);
    if (li) {
      li.classList.add("map-focus");
      li.scrollIntoView({ block: "nearest" });
    }
  }

  registerView("map", {
    show(section, arg) {
      wanted = arg || null;
      if (view) view.map.invalidateSize();
    },
    async refresh(section) {
      const [data] = await Promise.all([
        api("/api/map"),
        loadScript("vendor/leaflet/leaflet.js"),
        loadStyle("vendor/leaflet/leaflet.css"),
        loadStyle("map.css"),
      ]);
      if (!view || !section.contains(view.canvas)) build(section, data);
      const placed = update(data);
      if (wanted) {
        focus(wanted, data.points);
        wanted = null;
      } else fit(placed);
      const alarmed = data.points.filter((p) => p.level).length;
      const unplaced = data.points.length - placed.length;
      return [
        `${placed.length} điểm trên bản đồ`,
        `${alarmed} điểm có cảnh báo`,
        ...(unplaced ? [`${unplaced} điểm chưa có toạ độ`] : []),
      ].join(" · ");
    },
  });
})();
