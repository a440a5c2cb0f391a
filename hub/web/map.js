// The "map" view: drawn into <section id="view-map"> with the helpers of app.js (registerView, api, el).
"use strict";

registerView("map", {
  async refresh(section) {
    if (!section.childElementCount) section.append(el("p", "Đang xây dựng.", "muted"));
  },
});
