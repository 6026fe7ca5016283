// hvscope fleet page: polls api/v1/fleet (and api/v1/nodes/<node> for the node shown) and
// re-renders in place. Plain DOM, no framework, no external resource. Every value from the
// JSON goes in as text (textContent), never as markup.
"use strict";

(function () {
  const REFRESH_MS = Math.max(500, Number(new URLSearchParams(location.search).get("refresh_ms")) || 2000);
  const SEVERITIES = ["critical", "warning", "unknown"];
  const $ = (id) => document.getElementById(id);
  // Figures the browser test reads (render time, bytes of the last poll).
  const stats = (window.hvscope = { renders: 0, lastRenderMs: 0, maxRenderMs: 0, lastBytes: 0, errors: 0 });

  // The login form (served instead of the page when a token is required).
  const login = $("login");
  if (login) {
    login.addEventListener("submit", (e) => {
      e.preventDefault();
      const secure = location.protocol === "https:" ? "; Secure" : "";
      document.cookie = "hvscope_token=" + encodeURIComponent($("token").value.trim()) +
        "; Path=/; SameSite=Strict" + secure;
      location.reload();
    });
    return;
  }

  let fleet = null;
  let detail = null;
  let shown = null; // node whose detail is open
  // Rows shown per severity before "show all"; nodes beyond which tiles are compact.
  const ROWS_PER_GROUP = 100;
  const COMPACT_ABOVE = 300;
  const expanded = new Set(); // severity groups shown in full

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }

  function age(ms) {
    if (!ms) return "never";
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }
  const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "");

  // Subject keys shown first, in this order; the rest follow by name.
  const SUBJECT_ORDER = ["domain_name", "domain_uuid", "vcpu", "thread", "emulator", "cpu", "session", "target",
    "portal", "disk", "disks", "device", "bridge", "table", "priority", "cookie", "port", "mac", "rule",
    "mount_point", "resource", "daemon", "interface", "interfaces", "source"];
  function subject(s) {
    const keys = Object.keys(s || {}).sort((a, b) => {
      const ia = SUBJECT_ORDER.indexOf(a), ib = SUBJECT_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    const span = el("span", { class: "subject" });
    for (const k of keys) span.append(el("code", { text: k + "=" + s[k] }));
    return span;
  }

  function filters() {
    return {
      rack: $("f-rack").value,
      node: $("f-node").value.trim().toLowerCase(),
      check: $("f-check").value,
      severity: $("f-severity").value,
      problems: $("f-problems").checked,
    };
  }

  function setOptions(select, values) {
    const keep = select.value;
    const have = Array.from(select.options).slice(1).map((o) => o.value);
    if (have.length === values.length && have.every((v, i) => v === values[i])) return;
    while (select.options.length > 1) select.remove(1);
    for (const v of values) select.append(el("option", { value: v, text: v === "" ? "(no rack)" : v }));
    select.value = values.includes(keep) ? keep : "";
  }

  function findingKept(f, fl) {
    return (!fl.rack || f.rack === fl.rack) && (!fl.node || f.node.toLowerCase().includes(fl.node)) &&
      (!fl.check || f.check === fl.check) && (!fl.severity || f.severity === fl.severity);
  }

  function renderTotals(t) {
    const box = $("totals");
    box.replaceChildren(...[
      el("span", null, el("b", { text: t.up + "/" + t.nodes }), " nodes up"),
      el("span", null, el("b", { text: String(t.racks) }), " racks"),
      t.racks_down ? el("span", { class: "down-txt" }, el("b", { text: String(t.racks_down) }), " racks down") : null,
      el("span", { class: "sev-critical" }, el("b", { text: String(t.critical) }), " critical"),
      el("span", { class: "sev-warning" }, el("b", { text: String(t.warning) }), " warning"),
      el("span", { class: "sev-unknown" }, el("b", { text: String(t.unknown) }), " unknown")].filter(Boolean));
  }

  function renderRacksDown(racks) {
    const down = racks.filter((r) => r.down);
    const box = $("racks-down");
    box.hidden = down.length === 0;
    if (!down.length) return box.replaceChildren();
    box.replaceChildren(el("h2", { text: "Racks down (" + down.length + ")" }),
      ...down.map((r) => {
        const last = Math.max(...r.nodes.map((n) => n.last_seen_ms));
        return el("div", { "data-rack-down": r.rack },
          el("b", { text: r.rack }), " — all " + r.nodes.length + " nodes silent since " + age(last) +
          " (" + when(last) + ")");
      }));
  }

  function renderFindings(list, fl) {
    const kept = list.filter((f) => findingKept(f, fl));
    $("findings-count").textContent = "(" + kept.length + (kept.length !== list.length ? " of " + list.length : "") + ")";
    const box = $("findings");
    if (!kept.length) return box.replaceChildren(el("p", { class: "empty", text: "No open finding." }));
    const groups = [];
    for (const sev of SEVERITIES.concat(["other"])) {
      const rows = kept.filter((f) => (SEVERITIES.includes(f.severity) ? f.severity : "other") === sev);
      if (!rows.length) continue;
      const tbody = el("tbody");
      const all = expanded.has(sev);
      for (const f of all ? rows : rows.slice(0, ROWS_PER_GROUP)) {
        tbody.append(el("tr", { "data-check": f.check, "data-node": f.node, class: "finding" },
          el("td", null, el("span", { class: "sev sev-" + f.severity, text: f.severity })),
          el("td", { text: f.check }),
          el("td", null, el("a", { href: "#node=" + encodeURIComponent(f.node), text: f.node })),
          el("td", { text: f.rack }),
          el("td", { class: "subj" }, subject(f.subject)),
          el("td", { title: when(f.since_ms), text: f.since_ms ? age(f.since_ms) : "—" }),
          el("td", { class: "msg", text: f.message })));
      }
      const more = rows.length > ROWS_PER_GROUP ? el("button", {
        type: "button", class: "more", "data-more": sev,
        text: all ? "show the first " + ROWS_PER_GROUP : "show all " + rows.length,
        onclick: () => { if (all) expanded.delete(sev); else expanded.add(sev); render(); },
      }) : null;
      groups.push(el("div", { class: "group", "data-severity": sev },
        el("h3", { class: "sev-" + sev, text: sev + " (" + rows.length + ")" }),
        el("table", null, el("thead", null, el("tr", null, ...["", "check", "node", "rack", "subject", "since", "message"]
          .map((h) => el("th", { text: h })))), tbody), more));
    }
    box.replaceChildren(...groups);
  }

  function compactTile(n, worst, state) {
    const meta = (n.up ? "up" : "silent since " + age(n.last_seen_ms) + " (" + when(n.last_seen_ms) + ")") +
      " · report " + age(n.last_seen_ms) + " · agent " + (n.agent_version || "?") + " · image " + (n.image_version || "?") +
      (n.critical || n.warning || n.unknown ? " · " + n.critical + " critical, " + n.warning + " warning, " + n.unknown + " unknown" : "");
    return el("div", {
      class: "node compact " + (n.up ? "" : "silent ") + worst, tabindex: "0", role: "button",
      "data-node": n.node, "data-state": state, title: meta,
      onclick: () => show(n.node), onkeydown: (e) => { if (e.key === "Enter") show(n.node); },
    }, el("span", { class: "name", text: n.node }),
      n.critical + n.warning + n.unknown ? el("span", { class: "badges", text: " " + (n.critical + n.warning + n.unknown) }) : null);
  }

  function nodeTile(n, compact) {
    const worst = n.critical ? "has-critical" : n.warning ? "has-warning" : "";
    const state = n.up ? "up" : "silent";
    if (compact) return compactTile(n, worst, state);
    const tile = el("div", {
      class: "node " + (n.up ? "" : "silent ") + worst, tabindex: "0", role: "button",
      "data-node": n.node, "data-state": state,
      onclick: () => show(n.node), onkeydown: (e) => { if (e.key === "Enter") show(n.node); },
    },
      el("span", { class: "state", text: n.up ? "" : "silent since " + age(n.last_seen_ms), title: when(n.last_seen_ms) }),
      el("div", { class: "name", text: n.node }),
      el("div", { class: "meta", text: "report " + age(n.last_seen_ms) }),
      el("div", { class: "meta", text: "agent " + (n.agent_version || "?") + " · image " + (n.image_version || "?") }),
      el("div", { class: "badges" },
        n.critical ? el("span", { class: "sev-critical", text: n.critical + " crit" }) : null,
        n.warning ? el("span", { class: "sev-warning", text: n.warning + " warn" }) : null,
        n.unknown ? el("span", { class: "sev-unknown", text: n.unknown + " unkn" }) : null));
    return tile;
  }

  function renderRacks(racks, fl) {
    const out = [];
    let shownNodes = 0;
    const compact = fleet.totals.nodes > COMPACT_ABOVE;
    for (const r of racks) {
      if (fl.rack && r.rack !== fl.rack) continue;
      const nodes = r.nodes.filter((n) => (!fl.node || n.node.toLowerCase().includes(fl.node)) &&
        (!fl.problems || !n.up || n.critical || n.warning || n.unknown) &&
        (!fl.severity || n[fl.severity] > 0));
      if (!nodes.length) continue;
      shownNodes += nodes.length;
      const grid = el("div", { class: "nodes" + (compact ? " compact" : "") });
      grid.append(...nodes.map((n) => nodeTile(n, compact)));
      out.push(el("div", { class: "rack" + (r.down ? " down" : ""), "data-rack": r.rack },
        el("h3", null, (r.rack || "(no rack)") + " ", el("span", { class: "count",
          text: r.up + "/" + r.nodes.length + " up" + (r.down ? " — RACK DOWN" : "") })), grid));
    }
    $("racks-count").textContent = "(" + out.length + " racks, " + shownNodes + " nodes)";
    $("racks").replaceChildren(...(out.length ? out : [el("p", { class: "empty", text: "No node matches." })]));
  }

  function pct(part, whole) {
    if (!whole) return "—";
    return (100 * part / whole).toFixed(1) + " %";
  }
  function sliCells(w) {
    if (!w) return ["—", "—", "—"].map((t) => el("td", { text: t }));
    return [pct(w.cpu_starved_seconds, w.observed_seconds), pct(w.memory_stalled_seconds, w.observed_seconds),
      pct(w.disk_delayed_seconds, w.disk_observed_seconds)].map((t) => el("td", { text: t }));
  }
  function bar(p) {
    const cls = p >= 90 ? "crit" : p >= 80 ? "hi" : "";
    const fill = el("i", { class: cls });
    fill.style.width = Math.min(100, Math.max(0, p)).toFixed(1) + "%"; // CSSOM: allowed by the CSP
    return el("span", { class: "bar", title: p.toFixed(1) + " %" }, fill);
  }
  function table(headers, rows) {
    if (!rows.length) return el("p", { class: "empty", text: "none reported" });
    return el("table", null, el("thead", null, el("tr", null, ...headers.map((h) => el("th", { text: h })))),
      el("tbody", null, ...rows));
  }

  function renderDetail() {
    const box = $("detail");
    if (!shown) { box.hidden = true; return box.replaceChildren(); }
    box.hidden = false;
    const d = detail && detail.node === shown ? detail : null;
    const head = el("h2", null, "Node " + shown + " ",
      el("a", { href: "#", class: "close", text: "close ✕", onclick: (e) => { e.preventDefault(); show(null); } }));
    if (!d) return box.replaceChildren(head, el("p", { class: "empty", text: "loading…" }));
    const kv = el("div", { class: "kv" });
    const add = (k, v) => kv.append(el("span", { class: "meta", text: k }), typeof v === "string" ? el("span", { text: v }) : v);
    add("state", el("span", { class: d.up ? "up" : "down-txt", text: d.up ? "up" : "silent since " + age(d.last_seen_ms) + " (" + when(d.last_seen_ms) + ")" }));
    add("rack", d.rack || "(none)");
    add("last report", age(d.last_seen_ms));
    add("agent / image", (d.agent_version || "?") + " / " + (d.image_version || "?"));
    add("boot id", d.boot_id || "?");
    if (d.rootfs) {
      add("rootfs fill", el("span", null, bar(d.rootfs.fill_percent), " " + d.rootfs.fill_percent.toFixed(1) + " % of " +
        (d.rootfs.size_bytes / 1073741824).toFixed(1) + " GiB" +
        (d.rootfs.inode_fill_percent != null ? ", inodes " + d.rootfs.inode_fill_percent.toFixed(1) + " %" : "")));
    } else add("rootfs fill", "not measured");
    const vmRows = d.vms.map((v) => el("tr", { "data-domain": v.domain_name },
      el("td", { text: v.nova_name || "—" }), el("td", { text: v.domain_name }), el("td", null, el("code", { text: v.domain_uuid })),
      el("td", { text: v.state }), el("td", { text: v.flavor }), el("td", { text: v.project_name }),
      ...sliCells(v.last_interval), ...sliCells(v.last_hour)));
    const daemons = Object.entries(d.daemons).map(([k, up]) => el("tr", null, el("td", { text: k }),
      el("td", { class: up ? "up" : "down-txt", text: up ? "running" : "not running" })));
    const sessions = d.iscsi_sessions.map((s) => el("tr", { "data-session": s.session }, el("td", { text: s.session }),
      el("td", { text: s.target }), el("td", { text: s.portal }),
      el("td", { class: s.up === false ? "down-txt" : "up", text: s.state })));
    const bridges = d.ovs_bridges.map((b) => el("tr", null, el("td", { text: b.bridge }), el("td", { text: String(b.flows) }),
      el("td", { class: b.dirty_flows ? "down-txt" : "", text: String(b.dirty_flows) })));
    const sources = Object.entries(d.sources).filter(([, up]) => !up).map(([k]) => k);
    const findings = d.findings.map((f) => el("tr", { "data-check": f.check },
      el("td", null, el("span", { class: "sev sev-" + f.severity, text: f.severity })), el("td", { text: f.check }),
      el("td", { class: "subj" }, subject(f.subject)), el("td", { title: when(f.since_ms), text: f.since_ms ? age(f.since_ms) : "—" }),
      el("td", { class: "msg", text: f.message })));
    box.replaceChildren(head, kv,
      el("h3", { text: "Findings (" + d.findings.length + ")" }), table(["", "check", "subject", "since", "message"], findings),
      el("h3", { text: "VMs (" + d.vms.length + ") — share of time degraded: last interval | last hour" }),
      table(["nova name", "domain", "uuid", "state", "flavor", "project", "CPU starved", "memory stalled", "disk delayed",
        "CPU starved (1 h)", "memory stalled (1 h)", "disk delayed (1 h)"], vmRows),
      el("h3", { text: "iSCSI sessions (" + d.iscsi_sessions.length + ")" }), table(["session", "target", "portal", "state"], sessions),
      el("h3", { text: "OVS bridges" + (d.ovs_up === null ? " (no OVS reported)" : d.ovs_up ? "" : " (OVS not readable)") }),
      table(["bridge", "flows", "dirty flows"], bridges),
      el("h3", { text: "Required daemons" }), table(["daemon", "state"], daemons),
      el("h3", { text: "Sources not readable" }),
      sources.length ? el("p", { class: "down-txt", text: sources.join(", ") }) : el("p", { class: "empty", text: "none: every source part was read" }));
  }

  function render() {
    if (!fleet) return;
    const t0 = performance.now();
    const racks = fleet.racks.map((r) => r.rack).sort();
    setOptions($("f-rack"), racks);
    setOptions($("f-check"), Array.from(new Set(fleet.findings.map((f) => f.check))).sort());
    const fl = filters();
    renderTotals(fleet.totals);
    renderRacksDown(fleet.racks);
    renderFindings(fleet.findings, fl);
    renderRacks(fleet.racks, fl);
    renderDetail();
    const ms = performance.now() - t0;
    stats.renders += 1;
    stats.lastRenderMs = ms;
    stats.maxRenderMs = Math.max(stats.maxRenderMs, ms);
    document.body.dataset.renders = String(stats.renders);
  }

  async function getJson(url) {
    const r = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (r.status === 401) { location.reload(); throw new Error("token required"); }
    if (!r.ok) throw new Error(url + ": " + r.status + " " + (await r.text()).trim());
    const text = await r.text();
    return { json: JSON.parse(text), bytes: text.length };
  }

  async function poll() {
    const status = $("status");
    try {
      const t0 = performance.now();
      const f = await getJson("api/v1/fleet");
      stats.lastBytes = f.bytes;
      stats.fetchMs = performance.now() - t0;
      fleet = f.json;
      if (shown) {
        try { detail = (await getJson("api/v1/nodes/" + encodeURIComponent(shown))).json; }
        catch (e) { detail = null; }
      }
      render();
      status.dataset.state = "ok";
      status.textContent = "updated " + new Date().toLocaleTimeString() + " · every " + REFRESH_MS / 1000 + " s";
    } catch (e) {
      stats.errors += 1;
      status.dataset.state = "error";
      status.textContent = "refresh failed: " + e.message + " (retrying)";
    }
    setTimeout(poll, REFRESH_MS);
  }

  function show(node) {
    shown = node;
    detail = null;
    const hash = node ? "#node=" + encodeURIComponent(node) : "";
    if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
    renderDetail();
    if (node) getJson("api/v1/nodes/" + encodeURIComponent(node)).then((d) => { detail = d.json; renderDetail(); }, () => {});
    if (node) $("detail").scrollIntoView({ block: "start" });
  }

  function fromHash() {
    const m = /^#node=(.+)$/.exec(location.hash);
    show(m ? decodeURIComponent(m[1]) : null);
  }

  for (const id of ["f-rack", "f-check", "f-severity", "f-problems"]) $(id).addEventListener("change", render);
  $("f-node").addEventListener("input", render);
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  window.addEventListener("hashchange", fromHash);
  fromHash();
  poll();
})();
