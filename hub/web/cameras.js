// The "cameras" view: every camera the hub knows as a card (name, node, state, last detection); #cameras/<node>/<cam>
// opens one camera with its latest snapshot and the detection box drawn over it, its detections of the last 24 h as a
// timeline and a list, and a live view on demand, relayed by the hub (docs/console-cameras.md). Data: GET /api/cameras
// every refresh, GET /api/cameras/<node>/<cam>/events while a camera is open. Cards and rows are redrawn only when what
// they show changes. The live <img> exists only while the officer watches: leaving the view or the camera drops it,
// which closes the stream at the hub and at the camera.
// In a closure: every view's script shares the page's global scope with app.js.
"use strict";

(() => {
  const STATE = {
    ok: { text: "Đang hoạt động", mark: "✔" },
    camera_down: { text: "Mất tín hiệu camera", mark: "✖" },
    node_offline: { text: "Thiết bị mất kết nối", mark: "!" },
    unknown: { text: "Chưa có trạng thái", mark: "?" },
  };
  const DAY_MS = 24 * 3600 * 1000;
  const LANE_ORDER = ["fire", "smoke"]; // the timeline's lanes: what calls for a patrol first
  const num = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 1 });
  const score = new Intl.NumberFormat("vi-VN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const clock = new Intl.DateTimeFormat("vi-VN", { hour: "2-digit", minute: "2-digit" });

  const cards = new Map(); // "node/camera" -> card element
  let parts = null; // the view's fixed elements, made once
  let selected = null; // { node, camera } from the link
  let live = null; // the live <img> while one is open
  let liveTimer = null; // ends the page's side of a view when the hub ends it (live_max_s)
  let liveMaxS = 600;

  const keyOf = (c) => `${c.node_id}/${c.camera}`;
  const cameraPath = (node, camera) => `/api/cameras/${encodeURIComponent(node)}/${encodeURIComponent(camera)}`;
  const nodeLabel = (c) => c.node_name || c.node_id;

  function build(section) {
    loadStyle("cameras.css").catch(() => {});
    const layout = el("div", null, "cam-layout");
    const detail = el("section", null, "cam-detail");
    detail.setAttribute("aria-label", "Camera đang chọn");
    const title = el("h2", null, "cam-title");
    const meta = el("p", null, "cam-meta muted");
    const frame = el("div", null, "cam-frame");
    const snapshot = el("img", null, "cam-snapshot");
    snapshot.alt = "Ảnh chụp mới nhất của camera";
    snapshot.hidden = true;
    const box = el("div", null, "cam-box");
    box.hidden = true;
    const boxLabel = el("span", null, "cam-box-label");
    box.append(boxLabel);
    frame.append(snapshot, box);
    const caption = el("p", null, "cam-caption muted");
    const controls = el("div", null, "cam-live-controls controls");
    const liveButton = el("button", "Xem trực tiếp", "cam-live-button");
    liveButton.type = "button";
    liveButton.addEventListener("click", () => (live ? stopLive() : startLive()));
    const liveStatus = el("span", null, "cam-live-status");
    liveStatus.setAttribute("aria-live", "polite");
    controls.append(liveButton, liveStatus);
    const liveBox = el("div", null, "cam-live");
    liveBox.hidden = true;
    const timelineTitle = el("h3", "Dòng thời gian 24 giờ qua");
    const timeline = el("div", null, "cam-timeline");
    timeline.setAttribute("role", "img");
    const lanes = el("div", null, "cam-lanes");
    const axis = el("div", null, "cam-axis");
    timeline.append(lanes, axis);
    const historyTitle = el("h3", "Lịch sử phát hiện (24 giờ)");
    const table = el("table", null, "cam-events");
    const head = el("tr");
    for (const h of ["Bắt đầu", "Kết thúc", "Phát hiện", "Điểm", "Điểm cao nhất", "Vùng"]) head.append(el("th", h));
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    table.append(thead, tbody);
    const empty = el("p", "Không có phát hiện nào trong 24 giờ qua.", "cam-events-empty muted");
    empty.hidden = true;
    detail.append(title, meta, frame, caption, controls, liveBox, timelineTitle, timeline, historyTitle, table, empty);
    detail.hidden = true;
    const pick = el("p", "Chọn một camera để xem ảnh, lịch sử phát hiện và hình trực tiếp.", "cam-pick muted");
    const grid = el("div", null, "cam-grid");
    grid.setAttribute("role", "list");
    const none = el("p", "Hub chưa biết camera nào.", "cam-none muted");
    none.hidden = true;
    const list = el("section", null, "cam-list");
    list.setAttribute("aria-label", "Các camera");
    list.append(pick, grid, none);
    layout.append(detail, list);
    section.replaceChildren(layout);
    parts = { detail, title, meta, snapshot, box, boxLabel, caption, controls, liveButton, liveStatus, liveBox };
    Object.assign(parts, { timeline, lanes, axis, tbody, empty, pick, grid, none });
  }

  function stateBadge(state) {
    const s = STATE[state] || STATE.unknown;
    const badge = el("span", `${s.mark} ${s.text}`, "cam-state");
    badge.dataset.state = state;
    return badge;
  }

  function lastEventText(e) {
    if (!e) return "Chưa có phát hiện nào";
    const when = e.end ? `kết thúc ${time(e.end)}` : `từ ${time(e.start)}`;
    return `${e.label_vi} (điểm ${score.format(e.top_score)}), ${when}`;
  }

  function updateCard(card, c) {
    const sig = JSON.stringify([c.name, nodeLabel(c), c.state, c.last_event, c.fps, c.infer_ms, c.live]);
    if (card.dataset.sig === sig) return;
    card.dataset.sig = sig;
    const name = el("strong", c.name, "cam-name");
    const node = el("span", nodeLabel(c), "cam-node muted");
    if (c.node_name) node.title = c.node_id;
    const figures = [];
    if (c.fps !== null) figures.push(`${num.format(c.fps)} khung/giây`);
    if (c.infer_ms !== null) figures.push(`suy luận ${num.format(c.infer_ms)} ms`);
    if (c.live) figures.push("có hình trực tiếp");
    const event = el("span", lastEventText(c.last_event), "cam-last");
    card.replaceChildren(name, node, stateBadge(c.state), event, el("span", figures.join(" · "), "cam-figures muted"));
  }

  function renderGrid(cameras) {
    const seen = new Set();
    cameras.forEach((c, i) => {
      const key = keyOf(c);
      seen.add(key);
      let card = cards.get(key);
      if (!card) {
        card = el("a", null, "cam-card");
        card.href = `#cameras/${encodeURIComponent(c.node_id)}/${encodeURIComponent(c.camera)}`;
        card.setAttribute("role", "listitem");
        card.dataset.key = key;
        cards.set(key, card);
      }
      updateCard(card, c);
      if (parts.grid.children[i] !== card) parts.grid.insertBefore(card, parts.grid.children[i] || null);
      if (selected && key === `${selected.node}/${selected.camera}`) card.setAttribute("aria-current", "true");
      else card.removeAttribute("aria-current");
    });
    for (const [key, card] of cards) {
      if (!seen.has(key)) {
        card.remove();
        cards.delete(key);
      }
    }
    parts.none.hidden = cameras.length > 0;
  }

  // The box of the newest event the shown picture belongs to (the hub keeps the latest snapshot per label).
  function drawBox(event) {
    const { box, boxLabel } = parts;
    if (!event || !event.box) {
      box.hidden = true;
      return;
    }
    const [ymin, xmin, ymax, xmax] = event.box.map((v) => Math.min(1, Math.max(0, v)));
    box.style.left = `${xmin * 100}%`;
    box.style.top = `${ymin * 100}%`;
    box.style.width = `${(xmax - xmin) * 100}%`;
    box.style.height = `${(ymax - ymin) * 100}%`;
    box.dataset.label = event.label;
    boxLabel.textContent = `${event.label_vi} ${score.format(event.top_score)}`;
    box.hidden = false;
  }

  async function showPicture(camera, events) {
    const { snapshot, caption } = parts;
    const path = camera.snapshot;
    if (!path) {
      snapshot.hidden = true;
      drawBox(null);
      caption.textContent = "Chưa có ảnh chụp từ camera này.";
      return;
    }
    const event = events.find((e) => e.snapshot === path && e.box) || null;
    const url = await fetchSnapshot(path);
    if (!url) return;
    if (snapshot.src !== url) snapshot.src = url;
    snapshot.hidden = false;
    drawBox(event);
    caption.textContent = event
      ? `Ảnh mới nhất: ${event.label_vi}, điểm cao nhất ${score.format(event.top_score)}, lúc ${time(event.start)}`
      : "Ảnh mới nhất từ camera.";
  }

  // One lane per kind of detection (Lửa, Khói, ...), named at its left, so marks of different kinds never hide each
  // other; a mark carries its kind's first letter too, and its times as a tooltip.
  function renderTimeline(events, now) {
    const { timeline, lanes, axis } = parts;
    const from = now - DAY_MS;
    const sig = JSON.stringify([Math.floor(now / 60000), events.map((e) => [e.event_id, e.start, e.end, e.label])]);
    if (timeline.dataset.sig === sig) return;
    timeline.dataset.sig = sig;
    const byLabel = new Map();
    for (const e of events) {
      const start = Math.max(from, Date.parse(e.start));
      const end = e.end ? Date.parse(e.end) : now;
      if (end < from) continue;
      const mark = el("span", e.label_vi.charAt(0), "cam-mark");
      mark.dataset.label = e.label;
      mark.dataset.eventId = e.event_id;
      // Kept inside the track: a detection of the last minutes would otherwise hang past its right end.
      mark.style.left = `min(${((start - from) / DAY_MS) * 100}%, calc(100% - 1.2rem))`;
      mark.style.width = `${Math.max(0.6, ((Math.min(end, now) - start) / DAY_MS) * 100)}%`;
      mark.title = `${e.label_vi}: ${time(e.start)}${e.end ? ` – ${time(e.end)}` : " (đang diễn ra)"}`;
      if (!byLabel.has(e.label)) byLabel.set(e.label, { name: e.label_vi, marks: [] });
      byLabel.get(e.label).marks.push(mark);
    }
    const rank = (label) => (LANE_ORDER.includes(label) ? LANE_ORDER.indexOf(label) : LANE_ORDER.length);
    const labels = [...byLabel.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    lanes.replaceChildren(
      ...labels.map((label) => {
        const lane = el("div", null, "cam-lane");
        lane.dataset.label = label;
        const track = el("div", null, "cam-track");
        track.append(...byLabel.get(label).marks);
        lane.append(el("span", byLabel.get(label).name, "cam-lane-name"), track);
        return lane;
      }),
    );
    const ticks = [];
    for (let h = 0; h <= 24; h += 6) {
      const tick = el("span", h === 24 ? "bây giờ" : clock.format(new Date(from + h * 3600 * 1000)), "cam-tick");
      tick.style.left = `${(h / 24) * 100}%`;
      ticks.push(tick);
    }
    axis.replaceChildren(...ticks);
    const count = labels.reduce((n, label) => n + byLabel.get(label).marks.length, 0);
    timeline.setAttribute("aria-label", `${count} phát hiện trong 24 giờ qua`);
  }

  function renderHistory(events) {
    const { tbody, empty } = parts;
    const sig = JSON.stringify(events);
    if (tbody.dataset.sig === sig) return;
    tbody.dataset.sig = sig;
    tbody.replaceChildren(
      ...events.map((e) => {
        const tr = el("tr");
        tr.dataset.eventId = e.event_id;
        tr.append(
          el("td", time(e.start)),
          el("td", e.end ? time(e.end) : "Đang diễn ra"),
          el("td", e.label_vi, "cam-label"),
          el("td", score.format(e.score)),
          el("td", score.format(e.top_score)),
          el("td", e.zones.join(", ") || "—"),
        );
        return tr;
      }),
    );
    empty.hidden = events.length > 0;
  }

  function liveUrl() {
    return `${cameraPath(selected.node, selected.camera)}/live`;
  }

  function startLive() {
    if (live || !selected) return;
    const { liveBox, liveButton, liveStatus } = parts;
    const img = el("img", null, "cam-live-img");
    img.alt = "Hình trực tiếp từ camera";
    img.addEventListener("load", () => {
      if (live === img) liveStatus.textContent = "Đang xem trực tiếp";
    });
    img.addEventListener("error", () => {
      if (live !== img) return;
      stopLive();
      liveStatus.textContent = "Không xem được: camera không phản hồi hoặc đã đủ người xem. Thử lại sau.";
    });
    live = img;
    // The hub closes the stream after live_max_s; the last frame would stay up looking live, so the page says so.
    liveTimer = setTimeout(() => {
      stopLive();
      parts.liveStatus.textContent = `Đã hết thời gian xem (${Math.round(liveMaxS / 60)} phút). Bấm để xem tiếp.`;
    }, liveMaxS * 1000);
    img.src = liveUrl();
    liveBox.replaceChildren(img);
    liveBox.hidden = false;
    liveButton.textContent = "Dừng xem";
    liveStatus.textContent = "Đang kết nối…";
  }

  // Dropping the src aborts the request: the hub sees the viewer leave and closes the camera's connection.
  function stopLive() {
    if (!parts) return;
    const img = live;
    live = null;
    clearTimeout(liveTimer);
    if (img) {
      img.removeAttribute("src");
      img.remove();
    }
    parts.liveBox.replaceChildren();
    parts.liveBox.hidden = true;
    parts.liveButton.textContent = "Xem trực tiếp";
    parts.liveStatus.textContent = "";
  }

  function select(arg) {
    const [node, camera] = String(arg || "").split("/");
    const next = node && camera ? { node, camera } : null;
    const same = next && selected && next.node === selected.node && next.camera === selected.camera;
    if (same) return;
    stopLive();
    selected = next;
    if (!parts) return;
    // Another camera: nothing of the one before may stay on screen while the new one loads.
    parts.snapshot.hidden = true;
    parts.box.hidden = true;
    parts.caption.textContent = "";
    parts.tbody.dataset.sig = "";
    parts.tbody.replaceChildren();
    parts.timeline.dataset.sig = "";
    parts.lanes.replaceChildren();
    parts.controls.hidden = true;
  }

  async function renderDetail(camera, eventsOn) {
    const { detail, title, meta, controls, liveButton, pick } = parts;
    detail.hidden = !camera;
    pick.hidden = !!camera || !!selected;
    if (!camera) {
      if (selected) {
        detail.hidden = false;
        title.textContent = "Không tìm thấy camera này";
        meta.textContent = `${selected.node} / ${selected.camera}`;
      }
      return;
    }
    title.textContent = camera.name;
    meta.replaceChildren(el("span", `${nodeLabel(camera)} · `), stateBadge(camera.state));
    controls.hidden = WALL || !camera.live;
    if (!camera.live) stopLive();
    liveButton.disabled = !camera.live;
    let events = [];
    if (eventsOn) {
      const found = await api(`${cameraPath(camera.node_id, camera.camera)}/events?hours=24`);
      events = found.events;
    }
    renderTimeline(events, Date.now());
    renderHistory(events);
    await showPicture(camera, events);
  }

  registerView("cameras", {
    show(section, arg) {
      if (!parts) build(section);
      select(arg);
    },
    hide() {
      stopLive();
    },
    async refresh(section, arg) {
      if (!parts) build(section);
      select(arg);
      const list = await api("/api/cameras");
      liveMaxS = list.live_max_s;
      renderGrid(list.cameras);
      const camera = selected
        ? list.cameras.find((c) => c.node_id === selected.node && c.camera === selected.camera)
        : null;
      await renderDetail(camera || null, list.events);
      const working = list.cameras.filter((c) => c.state === "ok").length;
      const note = list.events ? "" : " · không đọc được lịch sử phát hiện";
      return `${list.count} camera, ${working} đang hoạt động${note}`;
    },
  });
})();
