// The technician's view (view "nodes"): each node's link, queue, power, cameras, versions and errors, the nodes that
// need someone first; #nodes/<node_id> opens that node's panel with its error history and dead letters
// (docs/console-nodes.md). Data: GET /api/nodes?brief=true every refresh, GET /api/nodes/<id> while a panel is open.
// Rows are kept per node id and redrawn only when what they show changes, so 500 nodes refresh cheaply.
// In a closure: every view's script shares the page's global scope with app.js.
"use strict";

(() => {
  const LINK = {
    online: "Trực tuyến",
    offline: "Mất kết nối",
    silent: "Không có tín hiệu",
    stopped: "Đã dừng",
    never_seen: "Chưa từng kết nối",
  };
  // Why a node is listed early: the order a technician goes through them (rank(), below).
  const RANK_WORDS = ["Mất liên lạc", "Đang báo lỗi", "Bỏ tin trong 24 giờ qua", "Đã dừng", "Chưa từng kết nối", "Bình thường"];
  // Status figures (extra) with a name a technician reads; the others are shown by their key.
  const FIGURES = {
    read_errors: "Lần đọc cảm biến lỗi",
    "outbox.oversize": "Tin quá cỡ bị giữ lại",
    camera_fps: "Khung/giây (camera chậm nhất)",
    inference_ms: "Thời gian suy luận trung bình (ms)",
  };
  const COLUMNS = ["Thiết bị", "Khu vực", "Kết nối", "Lần cuối", "Hàng đợi", "Pin / nguồn", "Camera", "Phiên bản", "Lỗi"];

  const num = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 1 });
  const volts = new Intl.NumberFormat("vi-VN", { minimumFractionDigits: 1, maximumFractionDigits: 2 });
  const rows = new Map(); // node id -> <tr>
  let panelFor = null; // the node id whose panel was last opened, to scroll to it once

  const statusOf = (n) => n.last_status || {};
  const currentError = (n) => statusOf(n).last_error || statusOf(n).config_error || "";

  function rank(n) {
    if (n.link === "offline" || n.link === "silent") return 0;
    if (currentError(n)) return 1;
    if (n.dropping) return 2;
    if (n.link === "stopped") return 3;
    if (n.link === "never_seen") return 4;
    return 5;
  }

  const label = (n) => n.name || n.node_id;

  function order(a, b) {
    return rank(a) - rank(b) || label(a).localeCompare(label(b), "vi") || (a.node_id < b.node_id ? -1 : 1);
  }

  function at(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleString("vi-VN") : "";
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "Chưa nhận tin nào";
    if (seconds < 10) return "vừa xong";
    if (seconds < 60) return `${Math.floor(seconds)} giây trước`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} phút trước`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} giờ trước`;
    return `${Math.floor(seconds / 86400)} ngày trước`;
  }

  function duration(seconds) {
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d) return `${d} ngày ${h} giờ`;
    if (h) return `${h} giờ ${m} phút`;
    return m ? `${m} phút` : `${s} giây`;
  }

  function bytes(n) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i += 1;
    }
    return `${num.format(v)} ${units[i]}`;
  }

  const battery = (n) => (n.battery ? `${volts.format(n.battery.volts)} V` : "—");

  function cameraLine(c) {
    const parts = [c.camera];
    if (c.connected === false) parts.push("mất luồng hình");
    if (c.fps !== null && c.fps !== undefined) parts.push(`${num.format(c.fps)} khung/giây`);
    if (c.infer_ms !== null && c.infer_ms !== undefined) parts.push(`suy luận ${num.format(c.infer_ms)} ms`);
    return parts.join(" · ");
  }

  // Folded for the filter: case and Vietnamese marks ignored, so "kim long" finds "Trạm Kim Long".
  function fold(text) {
    return String(text || "")
      .normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "")
      .replace(/[đĐ]/g, "d")
      .toLowerCase();
  }

  function cell(name, cls) {
    const td = el("td", null, cls);
    td.dataset.label = name;
    return td;
  }

  function nodeLink(n) {
    const a = el("a", label(n), "node-link");
    a.href = `#nodes/${encodeURIComponent(n.node_id)}`;
    a.title = n.node_id;
    return a;
  }

  // What a row shows, but its "… trước", which changes every refresh and is written on its own.
  function rowSignature(n) {
    const s = statusOf(n);
    return JSON.stringify([
      n.name,
      n.area_name,
      n.admin_code,
      n.link,
      n.last_seen,
      s.outbox_depth,
      s.outbox_dropped,
      n.dropping,
      n.last_drop_at,
      n.battery,
      n.cameras,
      s.software,
      s.config_version,
      s.config_error,
      s.last_error,
      n.latest_error,
      rank(n),
    ]);
  }

  function drawRow(tr, n) {
    const s = statusOf(n);
    const r = rank(n);
    tr.className = `node-rank-${r}`;
    tr.dataset.rank = String(r);

    const who = cell(COLUMNS[0], "node-name");
    who.append(nodeLink(n));
    if (n.name) who.append(el("div", n.node_id, "muted"));

    const area = cell(COLUMNS[1]);
    area.textContent = n.area_name || n.admin_code || "—";
    if (n.area_name && n.admin_code) area.title = n.admin_code;

    const link = cell(COLUMNS[2], "node-link-state");
    link.append(el("span", LINK[n.link] || n.link, `node-badge link-${n.link}`));
    // The badge says why for the others; these two need their reason beside it (never the colour alone).
    if (r === 1 || r === 2) link.append(el("div", RANK_WORDS[r], "node-why"));

    const seen = cell(COLUMNS[3], "node-seen");
    seen.title = at(n.last_seen);

    const queue = cell(COLUMNS[4], "node-queue");
    if (s.outbox_depth !== undefined) queue.append(el("div", `${num.format(s.outbox_depth)} chờ gửi`));
    if (s.outbox_dropped) {
      // Counted since the node's outbox was made: the last time it grew says whether it is dropping now.
      const dropped = el("div", `${num.format(s.outbox_dropped)} tin bị bỏ`, n.dropping ? "node-bad" : "muted");
      if (n.last_drop_at) dropped.title = `Lần cuối tăng: ${at(n.last_drop_at)}`;
      queue.append(dropped);
    }
    if (!queue.childElementCount) queue.textContent = "—";

    const power = cell(COLUMNS[5], "node-battery");
    power.textContent = battery(n);
    if (n.battery) power.title = `Cảm biến ${n.battery.sensor_id}, đo lúc ${at(n.battery.at)}`;

    const cams = cell(COLUMNS[6], "node-cameras");
    for (const c of n.cameras) cams.append(el("div", cameraLine(c), c.connected === false ? "node-bad" : null));
    if (!n.cameras.length) cams.textContent = "—";

    const version = cell(COLUMNS[7], "node-version");
    if (s.software) version.append(el("div", s.software));
    if (s.config_version) version.append(el("div", `Cấu hình ${s.config_version}`, "muted"));
    if (s.config_error) version.append(el("div", "Cấu hình mới bị từ chối", "node-bad"));
    if (!version.childElementCount) version.textContent = "—";

    const errors = cell(COLUMNS[8], "node-errors");
    const latest = n.latest_error;
    if (s.last_error) {
      errors.append(el("div", s.last_error, "node-bad"));
      if (latest && latest.current) errors.append(el("div", `từ ${at(latest.first_reported)}`, "muted"));
    } else if (latest) {
      errors.append(el("div", `Đã hết: ${latest.error}`, "muted"));
      errors.append(el("div", `lần cuối ${at(latest.last_reported)}`, "muted"));
    }
    if (s.config_error) errors.append(el("div", `Cấu hình bị từ chối: ${s.config_error}`, "node-bad"));

    tr.replaceChildren(who, area, link, seen, queue, power, cams, version, errors);
  }

  function table(section) {
    let t = section.querySelector("#nodes");
    if (t) return t;
    const head = el("tr");
    for (const h of COLUMNS) {
      const th = el("th", h);
      th.scope = "col";
      head.append(th);
    }
    t = el("table");
    t.id = "nodes";
    t.append(el("thead"), el("tbody"));
    t.tHead.append(head);

    const filter = el("input");
    filter.id = "node-filter";
    filter.type = "search";
    filter.placeholder = "Lọc theo tên, mã hoặc khu vực";
    filter.setAttribute("aria-label", "Lọc thiết bị theo tên, mã hoặc khu vực");
    filter.addEventListener("input", () => applyFilter(section));
    const controls = el("div", null, "controls node-controls");
    controls.append(filter, el("span", null, "muted node-shown"));

    const panel = el("section", null, "node-panel");
    panel.id = "node-detail";
    panel.hidden = true;
    panel.setAttribute("aria-live", "polite");

    const counts = el("p", null, "node-counts");
    counts.id = "node-counts";
    section.append(el("h2", "Trạm / thiết bị"), counts, panel, controls, t);
    return t;
  }

  function applyFilter(section) {
    const q = fold(section.querySelector("#node-filter").value.trim());
    let shown = 0;
    for (const tr of rows.values()) {
      tr.hidden = q !== "" && !tr.dataset.search.includes(q);
      if (!tr.hidden) shown += 1;
    }
    section.querySelector(".node-shown").textContent = q ? `Hiển thị ${shown}/${rows.size}` : "";
  }

  function renderList(section, nodes, selected) {
    const tbody = table(section).tBodies[0];
    const sorted = [...nodes].sort(order);
    const seen = new Set();
    sorted.forEach((n, i) => {
      seen.add(n.node_id);
      let tr = rows.get(n.node_id);
      if (!tr) {
        tr = el("tr");
        tr.dataset.nodeId = n.node_id;
        rows.set(n.node_id, tr);
      }
      const sig = rowSignature(n);
      if (tr.dataset.sig !== sig) {
        drawRow(tr, n);
        tr.dataset.sig = sig;
        tr.dataset.search = fold([n.name, n.node_id, n.area_name, n.admin_code].join(" "));
      }
      const when = tr.querySelector(".node-seen");
      const text = ago(n.last_seen_ago_s);
      if (when.textContent !== text) when.textContent = text;
      if (n.node_id === selected) tr.setAttribute("aria-current", "true");
      else tr.removeAttribute("aria-current");
      // Moved only when out of place: an unchanged order touches nothing.
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    for (const [id, tr] of rows) {
      if (!seen.has(id)) {
        tr.remove();
        rows.delete(id);
      }
    }
    applyFilter(section);
    const counts = new Map();
    for (const n of nodes) counts.set(n.link, (counts.get(n.link) || 0) + 1);
    section.querySelector("#node-counts").textContent = Object.keys(LINK)
      .filter((k) => counts.get(k))
      .map((k) => `${LINK[k]}: ${counts.get(k)}`)
      .join(" · ");
    return sorted.filter((n) => rank(n) < 5).length;
  }

  // -- one node's panel -------------------------------------------------------------------------------------------
  function facts(pairs) {
    const dl = el("dl", null, "node-facts");
    for (const [term, value, title] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      const dd = el("dd", value);
      if (title) dd.title = title;
      dl.append(el("dt", term), dd);
    }
    return dl;
  }

  function smallTable(cls, heads, body, empty) {
    if (!body.length) return el("p", empty, `muted ${cls}`);
    const t = el("table", null, `node-small ${cls}`);
    const head = el("tr");
    for (const h of heads) head.append(el("th", h));
    t.append(el("thead"), el("tbody"));
    t.tHead.append(head);
    for (const values of body) {
      const tr = el("tr");
      values.forEach((v, i) => {
        const td = el("td", v);
        td.dataset.label = heads[i];
        tr.append(td);
      });
      t.tBodies[0].append(tr);
    }
    return t;
  }

  function drawPanel(panel, n) {
    const s = statusOf(n);
    const title = el("h3", n.name ? `${n.name} (${n.node_id})` : n.node_id);
    title.tabIndex = -1;
    const close = el("a", "Đóng", "node-close");
    close.href = "#nodes";
    const head = el("div", null, "node-panel-head");
    head.append(title, close);

    const uptime = s.uptime_s !== undefined ? `${duration(s.uptime_s)} (lúc báo trạng thái)` : null;
    const place = n.lat !== null && n.lon !== null ? `${n.lat}, ${n.lon}` : null;
    const list = facts([
      ["Mã thiết bị", n.node_id],
      ["Khu vực", n.area_name || n.admin_code, n.area_name ? n.admin_code : null],
      ["Toạ độ", place],
      ["Kết nối", LINK[n.link] || n.link],
      ["Lần cuối nhận tin", n.last_seen ? `${at(n.last_seen)} (${ago(n.last_seen_ago_s)})` : "Chưa nhận tin nào"],
      ["Thời gian chạy", uptime],
      ["Đĩa còn trống", s.disk_free_bytes !== undefined ? bytes(s.disk_free_bytes) : null],
      ["Tin chờ gửi", s.outbox_depth !== undefined ? num.format(s.outbox_depth) : null],
      ["Tin bị bỏ", s.outbox_dropped !== undefined ? num.format(s.outbox_dropped) : null],
      ["Lần cuối bỏ tin", n.last_drop_at ? at(n.last_drop_at) : null],
      [
        "Pin / nguồn",
        n.battery ? `${battery(n)} (cảm biến ${n.battery.sensor_id}, đo lúc ${at(n.battery.at)})` : "Không có số đo",
      ],
      ["Phần mềm", s.software],
      ["Phiên bản cấu hình", s.config_version],
      ["Cấu hình mới bị từ chối", s.config_error],
      ["Lỗi hiện tại", s.last_error || "Không có"],
    ]);

    const models = Object.entries(s.models || {}).sort(([a], [b]) => a.localeCompare(b));
    const cams = n.cameras.map((c) => [
      c.camera,
      c.connected === null ? "—" : c.connected ? "Có" : "Mất luồng hình",
      c.fps === null ? "—" : num.format(c.fps),
      c.infer_ms === null ? "—" : num.format(c.infer_ms),
      c.reconnects === null ? "—" : num.format(c.reconnects),
      c.errors === null ? "—" : num.format(c.errors),
    ]);
    const errors = n.errors.map((e) => [
      e.error,
      at(e.first_reported),
      at(e.last_reported),
      num.format(e.reports),
      e.current ? "Đang báo" : "Đã hết",
    ]);
    const letters = n.dead_letters.map((d) => [at(d.received), d.topic, d.reason, bytes(d.payload_size)]);
    const other = Object.entries(s.extra || {})
      .filter(([k]) => !k.startsWith("cam."))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [FIGURES[k] || k, num.format(v)]);

    panel.replaceChildren(
      head,
      list,
      el("h4", "Camera"),
      smallTable(
        "node-camera-table",
        ["Camera", "Luồng hình", "Khung/giây", "Suy luận (ms)", "Kết nối lại", "Lỗi gửi"],
        cams,
        "Không có camera.",
      ),
      el("h4", "Mô hình"),
      smallTable("node-models", ["Mô hình", "Phiên bản"], models, "Không có mô hình do trung tâm quản lý."),
      el("h4", "Lỗi gần đây"),
      smallTable("node-error-table", ["Lỗi", "Lần đầu", "Lần cuối", "Số lần báo", "Hiện tại"], errors, "Chưa báo lỗi nào."),
      el("h4", "Tin không dùng được (gần đây)"),
      smallTable("node-letters", ["Lúc nhận", "Chủ đề", "Lý do", "Kích thước"], letters, "Không có."),
      el("h4", "Số liệu khác"),
      smallTable("node-figures", ["Số liệu", "Giá trị"], other, "Không có."),
    );
  }

  async function renderPanel(section, id, known) {
    const panel = section.querySelector("#node-detail");
    if (!id) {
      panel.hidden = true;
      panel.replaceChildren();
      panel.dataset.sig = "";
      panelFor = null;
      return;
    }
    let sig;
    if (!known) {
      // Not asked of the hub: a 404 would be a console error, and the list says already that there is none.
      sig = `missing|${id}`;
      if (panel.dataset.sig !== sig) panel.replaceChildren(el("p", `Không tìm thấy thiết bị “${id}”.`, "error"));
    } else {
      const node = await api(`/api/nodes/${encodeURIComponent(id)}`);
      const { last_seen_ago_s: _ago, ...shown } = node;
      sig = JSON.stringify([shown, ago(node.last_seen_ago_s)]);
      if (panel.dataset.sig !== sig) drawPanel(panel, node);
    }
    panel.dataset.sig = sig;
    panel.hidden = false;
    if (panelFor !== id) {
      panelFor = id;
      panel.scrollIntoView({ block: "start" });
      panel.querySelector("h3")?.focus({ preventScroll: true });
    }
  }

  registerView("nodes", {
    async refresh(section, arg) {
      await loadStyle("nodes.css");
      // Brief: without each status's figures (up to 256 a node); the panel asks for its node's in full.
      const { nodes } = await api("/api/nodes?brief=true");
      const selected = arg || null;
      const problems = renderList(section, nodes, selected);
      await renderPanel(section, selected, selected && rows.has(selected));
      return `${nodes.length} thiết bị · ${problems} cần chú ý`;
    },
  });
})();
