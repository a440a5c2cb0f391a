// The "situation" view: rivers against their BĐ levels (a station's 72 h chart with the forecast), reservoirs against
// their named levels, forest-fire danger per area, rain per gauge. Sub-views are links (#situation/rivers,
// #situation/rivers/<station_id>, #situation/reservoirs, #situation/fire, #situation/rain) so any of them can be shared.
// Rows and cards are kept across refreshes and changed only when their figures change; the chart is built once per
// station and given new data in place. Drawn with the helpers of app.js; text through textContent only.
"use strict";

(() => {
  const SUBS = [
    ["rivers", "Sông ngòi"],
    ["reservoirs", "Hồ chứa"],
    ["fire", "Cháy rừng"],
    ["rain", "Mưa"],
  ];
  const BD_DASH = [10, 6];
  const PEAK_DASH = [2, 5];
  const FORECAST_DASH = [14, 4, 3, 4];
  const OLD_MS = 3 * 3600 * 1000; // a reading older than this is flagged as old beside its time

  let built = null; // { section, note, panels: {sub: element}, chart: {...} }
  let chart = null; // { id, plot, key, shape }
  let wanted = null; // the station the latest refresh asked for: a slower answer for another is dropped

  function num(v, digits) {
    if (v === null || v === undefined) return "—";
    return Number(v).toLocaleString("vi-VN", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function metres(v) {
    return v === null || v === undefined ? "—" : `${num(v, 2)} m`;
  }

  function trendText(rate, word) {
    if (rate === null || rate === undefined) return "—";
    const arrow = word === "lên" ? "↑" : word === "xuống" ? "↓" : "→";
    return `${arrow} ${word} ${num(Math.abs(rate), 2)} m/h`;
  }

  function when(iso) {
    if (!iso) return "—";
    const old = Date.now() - Date.parse(iso) > OLD_MS;
    return old ? `${time(iso)} (đã cũ)` : time(iso);
  }

  function parse(arg) {
    const [sub, ...rest] = (arg || "").split("/");
    const known = SUBS.some(([name]) => name === sub);
    return { sub: known ? sub : "rivers", rest: known ? rest.join("/") : "" };
  }

  function table(id, headings) {
    const wrap = el("div", null, "table-wrap");
    const t = el("table", null, "situation-table");
    t.id = id;
    const tr = el("tr");
    for (const h of headings) tr.append(el("th", h));
    const thead = el("thead");
    thead.append(tr);
    t.append(thead, el("tbody"));
    wrap.append(t);
    return wrap;
  }

  function build(section) {
    if (built) return built;
    loadStyle("situation.css").catch(() => {});
    const tabs = el("nav", null, "situation-tabs controls");
    tabs.id = "situation-tabs";
    tabs.setAttribute("aria-label", "Các mục tình hình");
    for (const [name, label] of SUBS) {
      const a = el("a", label);
      a.href = `#situation/${name}`;
      a.dataset.sub = name;
      tabs.append(a);
    }
    const note = el("p", null, "situation-note");
    note.hidden = true;
    note.setAttribute("role", "status");

    const rivers = el("div", null, "situation-sub");
    rivers.id = "situation-rivers";
    const panel = el("section", null, "river-chart");
    panel.id = "situation-chart";
    panel.hidden = true;
    const head = el("div", null, "chart-head");
    const title = el("h3");
    const close = el("a", "Đóng biểu đồ", "controls");
    close.href = "#situation/rivers";
    head.append(title, close);
    const figures = el("p", null, "station-figures");
    const legend = el("ul", null, "bd-legend");
    legend.setAttribute("aria-label", "Các mức báo động trên biểu đồ");
    const box = el("div", null, "chart-box");
    const forecastNote = el("p", null, "forecast-note muted");
    const empty = el("p", null, "muted");
    panel.append(head, figures, legend, box, forecastNote, empty);
    rivers.append(
      panel,
      table("situation-rivers-table", ["Trạm", "Mức báo động", "Mực nước", "Xu thế (3 giờ)", "Sông", "BĐ1 / BĐ2 / BĐ3", "Đo lúc"]),
    );

    const reservoirs = el("div", null, "situation-sub");
    reservoirs.id = "situation-reservoirs";
    reservoirs.append(el("div", null, "reservoir-cards"));

    const fire = el("div", null, "situation-sub");
    fire.id = "situation-fire";
    fire.append(
      table("situation-fire-table", ["Khu rừng", "Tỉnh (bảng tra)", "Chỉ số Nesterov P", "Cấp dự báo cháy rừng", "Cập nhật"]),
      el("p", null, "fire-bands muted"),
    );

    const rain = el("div", null, "situation-sub");
    rain.id = "situation-rain";
    rain.append(
      table("situation-rain-table", ["Trạm đo mưa", "Khu vực", "1 giờ", "3 giờ", "12 giờ", "24 giờ", "72 giờ", "Mưa lớn", "Cảnh báo đang có"]),
      el("p", "Lượng mưa (mm) cộng dồn đến hiện tại.", "rain-bands muted"),
    );

    for (const p of [rivers, reservoirs, fire, rain]) p.hidden = true;
    section.replaceChildren(tabs, note, rivers, reservoirs, fire, rain);
    built = {
      section,
      tabs,
      note,
      panels: { rivers, reservoirs, fire, rain },
      chart: { panel, title, figures, legend, box, forecastNote, empty },
    };
    window.addEventListener("resize", () => {
      if (chart && built.chart.box.clientWidth) chart.plot.setSize(chartSize());
    });
    return built;
  }

  function showSub(sub) {
    for (const [name, panel] of Object.entries(built.panels)) panel.hidden = name !== sub;
    for (const a of built.tabs.querySelectorAll("a")) {
      if (a.dataset.sub === sub) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  function showNote(data) {
    built.note.textContent = data.note || "";
    built.note.hidden = !data.note;
  }

  // Rows keyed by id, kept while their figures hold; put in the API's order without touching rows already there.
  function syncRows(tbody, items, idOf, attr, fill) {
    const key = `data-${attr}`;
    const before = new Map([...tbody.children].map((tr) => [tr.getAttribute(key), tr]));
    const rows = items.map((item) => {
      const id = idOf(item);
      let tr = before.get(id);
      before.delete(id);
      if (!tr) {
        tr = el("tr");
        tr.setAttribute(key, id);
      }
      const sig = JSON.stringify(item);
      if (tr.dataset.sig !== sig) {
        tr.replaceChildren(...fill(item));
        tr.dataset.sig = sig;
      }
      return tr;
    });
    for (const tr of before.values()) tr.remove();
    const inOrder = tbody.children.length === rows.length && rows.every((tr, i) => tbody.children[i] === tr);
    if (!inOrder) tbody.append(...rows);
  }

  function cell(text, cls, title) {
    const td = el("td", text, cls);
    if (title) td.title = title;
    return td;
  }

  function badge(text, cls) {
    const span = el("span", text, `badge ${cls}`);
    return span;
  }

  // -- rivers ----------------------------------------------------------------------------------------------------
  function riverCells(s, selected) {
    const name = el("td", null, "name");
    const a = el("a", s.name);
    a.href = `#situation/rivers/${encodeURIComponent(s.station_id)}`;
    a.title = s.station_id;
    if (s.station_id === selected) a.setAttribute("aria-current", "true");
    name.append(a);
    const reached = el("td", null, "reached");
    if (s.reached_vi) reached.append(badge(s.reached_vi, `reached-${s.reached}`));
    else reached.textContent = "—";
    const level = cell(s.level_m === null ? "Chưa có số liệu" : metres(s.level_m), "level");
    if (s.level_m !== null && s.reached < 3) {
      const next = s.bd_m[s.reached];
      level.append(el("div", `còn ${num(next - s.level_m, 2)} m tới BĐ${s.reached + 1}`, "muted"));
    }
    // The level reached beside the name: on a phone the columns after the first few scroll out of sight.
    return [
      name,
      reached,
      level,
      cell(trendText(s.trend_m_per_h, s.trend_vi), "trend"),
      cell(s.river, "river"),
      cell(s.bd_m.map((v) => num(v, 2)).join(" / "), "bd"),
      cell(when(s.at), "at"),
    ];
  }

  async function refreshRivers(stationId) {
    const data = await api("/api/situation/rivers");
    showNote(data);
    const tbody = $("situation-rivers-table").querySelector("tbody");
    // The selected station rides in the signature so its row re-marks itself when another is chosen.
    syncRows(tbody, data.stations.map((s) => ({ ...s, selected: s.station_id === stationId })), (s) => s.station_id,
      "station-id", (s) => riverCells(s, stationId));
    for (const tr of tbody.children) tr.classList.toggle("selected", tr.dataset.stationId === stationId);
    if (!data.stations.length) {
      tbody.replaceChildren();
      const tr = el("tr");
      const td = el("td", "Chưa cấu hình trạm thủy văn nào (bảng mực nước báo động).", "muted");
      td.colSpan = 7;
      tr.append(td);
      tbody.append(tr);
    }
    // A link to a station no longer in the table is answered from the list, without asking for it (a 404).
    const known = !stationId || data.stations.some((s) => s.station_id === stationId);
    await refreshChart(stationId, known);
    const alarmed = data.stations.filter((s) => s.reached > 0).length;
    return `${data.count} trạm thủy văn · ${alarmed} trạm trên báo động`;
  }

  function chartSize() {
    const width = Math.max(280, built.chart.box.clientWidth);
    return { width, height: Math.round(Math.min(420, Math.max(220, width * 0.45))) };
  }

  // One x axis for measured means and forecast hours; each series null where it has no value.
  function chartData(d) {
    const f = d.forecast;
    const xs = [...new Set([...d.measured.t, ...(f ? f.t : [])])].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const column = (ts, vs) => {
      const out = new Array(xs.length).fill(null);
      ts.forEach((t, i) => {
        out[at.get(t)] = vs[i];
      });
      return out;
    };
    const flat = (v) => xs.map(() => v);
    const cols = [xs, column(d.measured.t, d.measured.v), ...d.station.bd_m.map(flat)];
    if (d.station.historical_peak_m !== null) cols.push(flat(d.station.historical_peak_m));
    if (f) cols.push(column(f.t, f.level_m), column(f.t, f.lower_m), column(f.t, f.upper_m));
    return cols;
  }

  // 24-hour clock, with the day under the first tick of each day (uPlot's default is an English 12-hour clock).
  function timeTicks(u, splits) {
    return splits.map((s, i) => {
      const d = new Date(s * 1000);
      const hm = d.toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit" });
      const before = i ? new Date(splits[i - 1] * 1000) : null;
      return before && before.toDateString() === d.toDateString() ? hm : `${hm}\n${d.getDate()}/${d.getMonth() + 1}`;
    });
  }

  function chartOptions(d) {
    const s = d.station;
    const value = (u, v) => (v === null || v === undefined ? "—" : metres(v));
    const series = [
      { label: "Thời gian", value: (u, v) => (v ? new Date(v * 1000).toLocaleString("vi-VN") : "—") },
      { label: "Mực nước đo", stroke: "#0d47a1", width: 2, value, points: { show: false } },
    ];
    const lines = s.bd_m.map((v, i) => ({ label: `BĐ${i + 1}`, value: v }));
    const colours = ["#b8860b", "#e65100", "#b71c1c"];
    lines.forEach((l, i) => series.push({ label: l.label, stroke: colours[i], dash: BD_DASH, width: 1.5, value, points: { show: false } }));
    if (s.historical_peak_m !== null) {
      lines.push({ label: "Lũ lịch sử", value: s.historical_peak_m });
      series.push({ label: "Lũ lịch sử", stroke: "#4a148c", dash: PEAK_DASH, width: 1.5, value, points: { show: false } });
    }
    const bands = [];
    if (d.forecast) {
      const first = series.length;
      series.push(
        { label: "Dự báo", stroke: "#1b5e20", dash: FORECAST_DASH, width: 2, spanGaps: true, value, points: { show: false } },
        { label: "Dự báo: cận dưới", stroke: "rgba(27,94,32,0.35)", width: 1, spanGaps: true, value, points: { show: false } },
        { label: "Dự báo: cận trên", stroke: "rgba(27,94,32,0.35)", width: 1, spanGaps: true, value, points: { show: false } },
      );
      bands.push({ series: [first + 2, first + 1], fill: "rgba(27,94,32,0.12)" });
    }
    return {
      ...chartSize(),
      series,
      bands,
      scales: { x: { time: true } },
      axes: [{ values: timeTicks, size: 48 }, { values: (u, vals) => vals.map((v) => num(v, 1)), size: 56 }],
      legend: { live: true },
      hooks: {
        // Each level's name and value written on its line: the lines are told apart by words, not by colour.
        draw: [
          (u) => {
            const ctx = u.ctx;
            const px = devicePixelRatio || 1;
            ctx.save();
            ctx.font = `${(WALL ? 18 : 12) * px}px sans-serif`;
            ctx.fillStyle = "#222";
            ctx.textAlign = "left";
            for (const l of lines) {
              const y = u.valToPos(l.value, "y", true);
              if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
              ctx.fillText(`${l.label} ${metres(l.value)}`, u.bbox.left + 6 * px, y - 4 * px);
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  function chartLegend(d) {
    const s = d.station;
    const items = s.bd_m.map((v, i) => `BĐ${i + 1}: ${metres(v)} (nét đứt)`);
    if (s.historical_peak_m !== null) items.push(`Lũ lịch sử: ${metres(s.historical_peak_m)} (chấm)`);
    const lis = items.map((text, i) => {
      const li = el("li", text);
      li.dataset.level = i < 3 ? `bd${i + 1}` : "peak";
      li.dataset.value = String(i < 3 ? s.bd_m[i] : s.historical_peak_m);
      return li;
    });
    built.chart.legend.replaceChildren(...lis);
  }

  function stationFigures(s) {
    if (s.level_m === null) return "Chưa có số đo trong 72 giờ qua.";
    const parts = [`Mực nước ${metres(s.level_m)}`, s.reached_vi, trendText(s.trend_m_per_h, s.trend_vi)];
    if (s.margin_m !== null) parts.push(`còn ${metres(s.margin_m)} tới BĐ${s.next_level}`);
    parts.push(`đo lúc ${when(s.at)}`);
    return parts.join(" · ");
  }

  function notFound(stationId) {
    const c = built.chart;
    dropChart();
    c.panel.hidden = false;
    c.title.textContent = "Không tìm thấy trạm";
    c.title.title = "";
    c.figures.textContent = `Không có trạm "${stationId}" trong bảng mực nước báo động.`;
    c.legend.replaceChildren();
    c.forecastNote.textContent = "";
    c.empty.textContent = "";
  }

  async function refreshChart(stationId, known) {
    const c = built.chart;
    wanted = stationId;
    if (!stationId) {
      c.panel.hidden = true;
      dropChart();
      return;
    }
    if (!known) return notFound(stationId);
    let d;
    try {
      d = await api(`/api/situation/rivers/${encodeURIComponent(stationId)}`);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 404) throw err;
      if (wanted === stationId) notFound(stationId);
      return;
    }
    await Promise.all([loadScript("vendor/uplot/uPlot.iife.min.js"), loadStyle("vendor/uplot/uPlot.min.css")]);
    if (wanted !== stationId) return;
    const s = d.station;
    c.panel.hidden = false;
    c.title.textContent = `Sông ${s.river} tại ${s.name}`;
    c.title.title = s.station_id;
    c.figures.textContent = stationFigures(s);
    const f = d.forecast;
    c.forecastNote.textContent = f
      ? `${f.source_vi} (${f.method_vi}), phát hành lúc ${time(f.issued)}: đường gạch chấm, dải tô nhạt là khoảng tin cậy 80 %.`
      : "Chưa có bản tin dự báo cho trạm này.";
    c.empty.textContent = d.measured.t.length ? "" : "Chưa có số đo trong 72 giờ qua.";
    const key = JSON.stringify([d.station.bd_m, d.station.historical_peak_m, d.measured.t.length, d.measured.t.at(-1), d.measured.v.at(-1), f && f.issued]);
    if (chart && chart.id === stationId && chart.key === key) return;
    chartLegend(d);
    const data = chartData(d);
    const shape = JSON.stringify([d.station.bd_m, d.station.historical_peak_m, !!f]);
    if (chart && chart.id === stationId && chart.shape === shape) {
      chart.plot.setData(data);
      chart.key = key;
      return;
    }
    dropChart();
    chart = { id: stationId, key, shape, plot: new uPlot(chartOptions(d), data, c.box) };
  }

  function dropChart() {
    if (!chart) return;
    chart.plot.destroy();
    chart = null;
  }

  // -- reservoirs ------------------------------------------------------------------------------------------------
  function gauge(r) {
    const levels = r.levels.map((l) => l.level_m);
    const low = Math.min(...levels, r.level_m ?? Infinity);
    const high = Math.max(...levels, r.level_m ?? -Infinity);
    const pad = (high - low) * 0.08 || 1;
    const pos = (v) => `${(100 * (v - (low - pad))) / (high - low + 2 * pad)}%`;
    const box = el("div", null, "gauge");
    box.setAttribute("aria-hidden", "true");
    if (r.level_m !== null) {
      const fill = el("div", null, "gauge-fill");
      fill.style.height = pos(r.level_m);
      box.append(fill);
    }
    for (const l of r.levels) {
      const mark = el("div", l.name_vi.replace("Mực nước ", ""), "gauge-mark");
      mark.style.bottom = pos(l.level_m);
      box.append(mark);
    }
    return box;
  }

  function releaseText(rel) {
    if (!rel) return "Chưa có thông báo xả lũ.";
    const open = time(rel.planned_open);
    if (rel.cancelled) return `Đã huỷ kế hoạch xả lũ lúc ${open}${rel.by ? ` (${rel.by})` : ""}.`;
    const parts = [`Xả lũ dự kiến lúc ${open}`];
    if (rel.release_m3s !== null) parts.push(`lưu lượng xả ${num(rel.release_m3s, 0)} m³/s`);
    if (rel.warn_by) parts.push(`phải cảnh báo hạ du${rel.signal ? ` (${rel.signal})` : ""} trước ${time(rel.warn_by)}`);
    if (rel.by) parts.push(`ghi nhận bởi ${rel.by}`);
    return `${parts.join("; ")}.`;
  }

  function reservoirCard(r) {
    const card = el("article", null, "reservoir");
    const h = el("h3", r.name);
    h.title = r.reservoir_id;
    const now = el("p", null, "level-now");
    now.textContent = r.level_m === null ? "Mực nước: chưa có số liệu" : `Mực nước: ${metres(r.level_m)}`;
    if (r.level_m !== null) {
      now.append(el("span", ` · ${trendText(r.trend_m_per_h, r.trend_vi)} · đo lúc ${when(r.at)}`, "muted"));
    }
    const band = el("p", r.band_vi || "—", `band band-${r.band || "none"}`);
    const list = el("ul", null, "named-levels");
    for (const l of r.levels) {
      const state = l.reached === null ? "" : l.reached ? " — đã vượt" : " — chưa tới";
      const li = el("li", `${l.name_vi}: ${metres(l.level_m)}${state}`);
      li.dataset.level = l.key;
      if (l.reached) li.classList.add("reached");
      list.append(li);
    }
    const flows = el("p", null, "flows");
    flows.textContent =
      r.inflow_m3s === null && r.outflow_m3s === null
        ? "Lưu lượng: chưa đo"
        : `Lưu lượng đến: ${r.inflow_m3s === null ? "—" : `${num(r.inflow_m3s, 0)} m³/s`} · ` +
          `xả: ${r.outflow_m3s === null ? "—" : `${num(r.outflow_m3s, 0)} m³/s`}` +
          (r.flows_at ? ` · lúc ${when(r.flows_at)}` : "");
    const release = el("p", releaseText(r.release), "release");
    const body = el("div", null, "reservoir-body");
    const words = el("div", null, "reservoir-words");
    words.append(now, band, list, flows, release);
    body.append(gauge(r), words);
    card.append(h, el("p", r.province, "muted"), body);
    return card;
  }

  async function refreshReservoirs() {
    const data = await api("/api/situation/reservoirs");
    showNote(data);
    const box = built.panels.reservoirs.querySelector(".reservoir-cards");
    const cards = data.reservoirs.map((r) => {
      const old = box.querySelector(`[data-reservoir-id="${CSS.escape(r.reservoir_id)}"]`);
      const sig = JSON.stringify(r);
      if (old && old.dataset.sig === sig) return old;
      const card = reservoirCard(r);
      card.dataset.reservoirId = r.reservoir_id;
      card.dataset.sig = sig;
      if (old) old.replaceWith(card);
      return card;
    });
    if (!cards.every((c, i) => box.children[i] === c) || box.children.length !== cards.length) box.replaceChildren(...cards);
    if (!cards.length) box.replaceChildren(el("p", "Chưa cấu hình hồ chứa nào.", "muted"));
    return `${data.reservoirs.length} hồ chứa`;
  }

  // -- forest fire -----------------------------------------------------------------------------------------------
  async function refreshFire() {
    const data = await api("/api/situation/fire");
    showNote(data);
    const tbody = $("situation-fire-table").querySelector("tbody");
    syncRows(tbody, data.areas, (a) => a.area_id, "area-id", (a) => {
      const level = el("td", null, "level");
      if (a.level) level.append(badge(`Cấp ${a.level_roman} · ${a.level_vi}`, `fire-${a.level}`));
      else level.textContent = "Chưa có số liệu";
      const codes = [a.area_id, a.area].filter(Boolean).join(" · ");
      return [
        cell(a.area_name || a.area_id, "name", codes),
        cell(a.province, "province"),
        cell(a.p === null ? "—" : num(a.p, 0), "p"),
        level,
        cell(when(a.at), "at"),
      ];
    });
    const first = data.areas.find((a) => a.upper_bounds.length === 4);
    const bands = built.panels.fire.querySelector(".fire-bands");
    if (first) {
      const [b1, b2, b3, b4] = first.upper_bounds.map((b) => num(b, 0));
      bands.textContent = `Cấp I: P đến ${b1}; II: đến ${b2}; III: đến ${b3}; IV: đến ${b4}; V: trên ${b4} (${first.source}). ` +
        "Cấp III trở lên: tổ chức trực và tuần tra; cấp IV, V: thông báo hằng ngày.";
    } else {
      bands.textContent = data.areas.length ? "" : "Chưa cấu hình khu rừng nào.";
    }
    return `${data.areas.length} khu rừng`;
  }

  // -- rain ------------------------------------------------------------------------------------------------------
  async function refreshRain() {
    const data = await api("/api/situation/rain");
    showNote(data);
    const tbody = $("situation-rain-table").querySelector("tbody");
    syncRows(tbody, data.gauges, (g) => g.gauge_id, "gauge-id", (g) => {
      const band = el("td", null, "band");
      if (g.band === null) band.textContent = "—";
      else band.append(badge(g.band_vi, `rain-${g.band}`));
      return [
        cell(g.name, "name", g.gauge_id),
        cell(g.area_name || g.area || "—", "area", g.area || ""),
        ...[1, 3, 12, 24, 72].map((h) => cell(num(g[`acc_${h}h_mm`], 1), `acc acc-${h}`)),
        band,
        cell(g.alarm_level ? `Rủi ro cấp ${g.alarm_level}` : "—", "alarm"),
      ];
    });
    if (!data.gauges.length) tbody.replaceChildren();
    built.panels.rain.querySelector(".rain-bands").textContent =
      `Lượng mưa (mm) cộng dồn đến hiện tại. Ngưỡng mưa lớn: ${data.edges_24h_mm.map((v) => num(v, 0)).join(" / ")} mm trong 24 giờ, ` +
      `${data.edges_12h_mm.map((v) => num(v, 0)).join(" / ")} mm trong 12 giờ (${data.bands_source}).`;
    return `${data.gauges.length} trạm đo mưa`;
  }

  registerView("situation", {
    async refresh(section, arg) {
      build(section);
      const { sub, rest } = parse(arg);
      showSub(sub);
      if (sub !== "rivers") dropChart();
      if (sub === "rivers") return refreshRivers(rest || null);
      if (sub === "reservoirs") return refreshReservoirs();
      if (sub === "fire") return refreshFire();
      return refreshRain();
    },
    hide() {
      dropChart();
    },
  });
})();
