/// The live dashboard served at `GET /` (self-contained: no external assets).
enum DashboardPage {
    static let html: String = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>StreamScore · Live</title>
    <style>
      :root {
        --bg: #f3f4f6;
        --card: #ffffff;
        --border: #e2e5ea;
        --text: #1b2230;
        --muted: #687083;
        --faint: #9aa1ae;
        --grid: #eceef2;
        --axis: #c9ced6;
        --accent: #2f6fed;
        --accent-soft: rgba(47, 111, 237, 0.12);
        --bar: #6b8fd6;
        --bar-bg: #eef1f6;
        --ok: #16a34a;
        --warn: #d97706;
        --bad: #dc2626;
        --low: #7c9bd9;
        --mid: #e0a33a;
        --high: #d9534f;
        --shadow: 0 1px 2px rgba(16, 24, 40, 0.05);
        --radius: 10px;
        --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
      }
      @media (prefers-color-scheme: dark) {
        :root {
          --bg: #111418;
          --card: #1a1e24;
          --border: #2a3038;
          --text: #e6e8ec;
          --muted: #9aa3b2;
          --faint: #6c7482;
          --grid: #262b33;
          --axis: #3a414c;
          --accent: #6b9bff;
          --accent-soft: rgba(107, 155, 255, 0.15);
          --bar: #5b7fc4;
          --bar-bg: #242a33;
          --shadow: none;
        }
      }
      * { box-sizing: border-box; }
      html, body { margin: 0; padding: 0; }
      body {
        background: var(--bg);
        color: var(--text);
        font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif;
        font-size: 14px;
        line-height: 1.4;
        -webkit-font-smoothing: antialiased;
        overflow-x: hidden;
      }
      .num, td.n, dd, .big-num, .kpi-value { font-variant-numeric: tabular-nums; }
      .mono { font-family: var(--mono); font-size: 12px; }

      /* Header */
      .top {
        position: sticky; top: 0; z-index: 5;
        display: flex; align-items: center; justify-content: space-between; gap: 12px; flex-wrap: wrap;
        padding: 12px 24px;
        background: var(--card);
        border-bottom: 1px solid var(--border);
      }
      .brand { display: flex; align-items: baseline; gap: 10px; min-width: 0; }
      .brand h1 { margin: 0; font-size: 17px; font-weight: 650; letter-spacing: -0.01em; }
      .brand .sub { color: var(--muted); font-size: 13px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
      .conn { display: flex; align-items: center; gap: 12px; color: var(--muted); font-size: 12.5px; }
      .pill {
        display: inline-flex; align-items: center; gap: 6px;
        padding: 3px 10px 3px 8px; border-radius: 999px;
        font-size: 12px; font-weight: 600; letter-spacing: 0.02em; text-transform: uppercase;
        border: 1px solid var(--border); color: var(--muted); background: var(--bg);
      }
      .pill .dot { width: 8px; height: 8px; border-radius: 50%; background: var(--faint); }
      .pill[data-state="live"] { color: var(--ok); border-color: rgba(22, 163, 74, 0.35); background: rgba(22, 163, 74, 0.08); }
      .pill[data-state="live"] .dot { background: var(--ok); animation: pulse 2s ease-in-out infinite; }
      .pill[data-state="stale"] { color: var(--warn); border-color: rgba(217, 119, 6, 0.4); background: rgba(217, 119, 6, 0.09); }
      .pill[data-state="stale"] .dot { background: var(--warn); }
      body[data-state="stale"] main { opacity: 0.78; }
      main { transition: opacity 0.3s ease; }
      @keyframes pulse { 0%, 100% { opacity: 1; } 50% { opacity: 0.35; } }
      @media (prefers-reduced-motion: reduce) { .pill .dot { animation: none !important; } }

      /* Grid */
      main {
        display: grid;
        grid-template-columns: repeat(12, minmax(0, 1fr));
        gap: 16px;
        padding: 20px 24px 32px;
        max-width: 1600px;
        margin: 0 auto;
      }
      .card {
        background: var(--card);
        border: 1px solid var(--border);
        border-radius: var(--radius);
        box-shadow: var(--shadow);
        padding: 16px 18px;
        min-width: 0;
      }
      .s3 { grid-column: span 3; }
      .s4 { grid-column: span 4; }
      .s5 { grid-column: span 5; }
      .s6 { grid-column: span 6; }
      .s7 { grid-column: span 7; }
      .s8 { grid-column: span 8; }
      .s12 { grid-column: span 12; }
      @media (max-width: 1100px) {
        .s3 { grid-column: span 6; }
        .s4, .s5, .s7, .s8 { grid-column: span 12; }
        .s6 { grid-column: span 6; }
      }
      @media (max-width: 820px) {
        .s6 { grid-column: span 12; }
      }
      @media (max-width: 640px) {
        main { grid-template-columns: minmax(0, 1fr); gap: 12px; padding: 12px; }
        .s3, .s4, .s5, .s6, .s7, .s8, .s12 { grid-column: 1 / -1; }
        .top { padding: 10px 12px; }
        .brand .sub { display: none; }
        .card { padding: 14px; }
        .card-h { flex-wrap: wrap; }
        .card-h .meta { white-space: normal; }
      }

      .card-h { display: flex; align-items: baseline; justify-content: space-between; gap: 10px; margin-bottom: 12px; min-width: 0; }
      .card-h h2 { margin: 0; font-size: 13px; font-weight: 650; color: var(--text); letter-spacing: 0.01em; white-space: nowrap; }
      .card-h .meta { color: var(--muted); font-size: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }

      /* KPI cards */
      .kpi { display: flex; flex-direction: column; gap: 4px; }
      .kpi-label { color: var(--muted); font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.04em; }
      .kpi-value { font-size: 26px; font-weight: 650; letter-spacing: -0.02em; line-height: 1.15; }
      .kpi-foot { color: var(--muted); font-size: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
      .kpi-value.version { font-family: var(--mono); font-size: 16px; font-weight: 600; letter-spacing: 0; word-break: break-all; line-height: 1.3; padding-top: 6px; }
      .kpi-value.risk { color: var(--high); }

      /* Subscriber cards */
      .sub-top { display: flex; align-items: flex-end; justify-content: space-between; gap: 16px; }
      .big { display: flex; align-items: baseline; gap: 6px; white-space: nowrap; }
      .big-num { font-size: 30px; font-weight: 650; letter-spacing: -0.02em; line-height: 1; }
      .unit { color: var(--muted); font-size: 12.5px; }
      .spark { flex: 1 1 auto; max-width: 260px; min-width: 60px; height: 34px; display: block; }
      .spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
      .spark polygon { fill: var(--accent-soft); stroke: none; }
      .metrics { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 10px; margin: 16px 0 12px; padding: 12px 0 0; border-top: 1px solid var(--border); }
      .metrics div { min-width: 0; }
      .metrics dt { color: var(--muted); font-size: 12px; margin-bottom: 2px; }
      .metrics dd { margin: 0; font-size: 17px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
      .metrics dd.warn { color: var(--warn); }
      .metrics dd.bad { color: var(--bad); }
      .parts { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; color: var(--muted); font-size: 12px; }
      .chips { display: inline-flex; flex-wrap: wrap; gap: 4px; }
      .chip {
        display: inline-block; padding: 1px 7px; border-radius: 5px;
        background: var(--bar-bg); color: var(--text); font-size: 12px; font-variant-numeric: tabular-nums;
      }
      .chip.g { background: transparent; color: var(--muted); border: 1px solid var(--border); font-family: var(--mono); font-size: 11.5px; }
      .card.absent .big-num, .card.absent dd { color: var(--faint); }

      /* Bar lists */
      .bars { display: flex; flex-direction: column; gap: 6px; }
      .bar-row {
        display: grid; grid-template-columns: minmax(0, 1fr) auto; column-gap: 10px; row-gap: 3px;
        align-items: baseline; font-size: 13px;
      }
      .bar-row .lbl { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }
      .bar-row .lbl .rk { color: var(--faint); display: inline-block; min-width: 2.1em; font-variant-numeric: tabular-nums; }
      .bar-row .val { text-align: right; font-weight: 600; font-variant-numeric: tabular-nums; }
      .bar-row .track { grid-column: 1 / -1; height: 6px; border-radius: 3px; background: var(--bar-bg); overflow: hidden; }
      .bar-row .fill { height: 100%; background: var(--bar); border-radius: 3px; transition: width 0.4s ease; }
      .bar-row .pct { color: var(--muted); font-weight: 400; margin-left: 6px; font-size: 12px; }
      .types .bar-row .fill { background: var(--accent); opacity: 0.75; }
      .empty { color: var(--faint); font-size: 13px; padding: 8px 0; }

      /* Charts */
      .chart { position: relative; width: 100%; }
      .chart svg { display: block; width: 100%; overflow: visible; }
      .chart .gl { stroke: var(--grid); stroke-width: 1; shape-rendering: crispEdges; }
      .chart .ax { stroke: var(--axis); stroke-width: 1; shape-rendering: crispEdges; }
      .chart text { fill: var(--muted); font-size: 11px; font-family: inherit; font-variant-numeric: tabular-nums; }
      .chart .area { fill: var(--accent-soft); }
      .chart .line { fill: none; stroke: var(--accent); stroke-width: 1.75; stroke-linejoin: round; }
      .chart .hl { stroke: var(--muted); stroke-width: 1; stroke-dasharray: 3 3; pointer-events: none; }
      .chart .dot { fill: var(--accent); stroke: var(--card); stroke-width: 2; pointer-events: none; }
      .chart .b-low { fill: var(--low); }
      .chart .b-mid { fill: var(--mid); }
      .chart .b-high { fill: var(--high); }
      .chart rect.on { opacity: 0.75; }
      .chart .nodata { fill: var(--faint); font-size: 13px; }
      .legend { display: flex; gap: 14px; flex-wrap: wrap; color: var(--muted); font-size: 12px; margin-top: 8px; }
      .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
      .stats { display: flex; gap: 18px; flex-wrap: wrap; margin-bottom: 10px; }
      .stats div { display: flex; flex-direction: column; }
      .stats span { color: var(--muted); font-size: 11.5px; }
      .stats b { font-size: 15px; font-weight: 650; font-variant-numeric: tabular-nums; }

      #tip {
        position: fixed; z-index: 20; pointer-events: none; display: none;
        background: #1b2230; color: #fff; border-radius: 6px; padding: 6px 9px;
        font-size: 12px; line-height: 1.35; box-shadow: 0 4px 14px rgba(0, 0, 0, 0.18); white-space: nowrap;
      }
      #tip b { font-variant-numeric: tabular-nums; }

      /* At-risk table */
      table.risk { width: 100%; border-collapse: collapse; font-size: 13px; }
      table.risk th {
        text-align: left; font-weight: 600; color: var(--muted); font-size: 11.5px; text-transform: uppercase; letter-spacing: 0.04em;
        padding: 6px 10px; border-bottom: 1px solid var(--border); vertical-align: bottom;
      }
      .table-wrap { overflow-x: auto; }
      table.risk td { padding: 8px 10px; border-bottom: 1px solid var(--grid); white-space: nowrap; vertical-align: middle; }
      table.risk tr:last-child td { border-bottom: none; }
      table.risk tbody tr:hover td { background: var(--bg); }
      table.risk th.n, table.risk td.n { text-align: right; }
      table.risk td.cid { font-family: var(--mono); font-size: 12.5px; font-weight: 600; }
      table.risk td.at { color: var(--muted); font-variant-numeric: tabular-nums; }
      .score { display: inline-flex; align-items: center; gap: 8px; justify-content: flex-end; }
      .score .m { width: 64px; height: 6px; border-radius: 3px; background: var(--bar-bg); overflow: hidden; }
      .score .m i { display: block; height: 100%; border-radius: 3px; }
      .score b { min-width: 3.6em; text-align: right; font-variant-numeric: tabular-nums; }
      .plan { display: inline-block; padding: 1px 8px; border-radius: 999px; border: 1px solid var(--border); font-size: 12px; color: var(--text); }
      .cnt-hot { color: var(--bad); font-weight: 600; }
      @media (max-width: 860px) {
        table.risk thead { display: none; }
        table.risk, table.risk tbody { display: block; }
        table.risk tr {
          display: flex; flex-wrap: wrap; align-items: baseline; column-gap: 14px; row-gap: 0;
          padding: 10px 0; border-bottom: 1px solid var(--grid);
        }
        table.risk tr::before { content: ""; flex-basis: 100%; height: 0; order: 2; }
        table.risk tr::after { content: ""; flex-basis: 100%; height: 0; order: 4; }
        table.risk tr:last-child { border-bottom: none; }
        table.risk td { display: block; padding: 0; border: none; white-space: nowrap; font-size: 12.5px; }
        table.risk tbody tr:hover td { background: transparent; }
        table.risk td.n { text-align: left; }
        table.risk td.cid { order: 1; flex: 1 1 auto; font-size: 13px; }
        table.risk td.sc { order: 1; margin-left: auto; }
        table.risk td.pl, table.risk td.tn, table.risk td.cv, table.risk td.cp { order: 3; margin-top: 5px; }
        table.risk td.at { order: 5; margin-top: 3px; font-size: 12px; }
        table.risk td[data-l]::before { content: attr(data-l) " "; color: var(--muted); font-size: 11.5px; font-weight: 400; }
      }
      footer { color: var(--faint); font-size: 12px; text-align: center; padding: 0 12px 24px; }
    </style>
    </head>
    <body data-loaded="0">
    <header class="top">
      <div class="brand">
        <h1>StreamScore</h1>
        <span class="sub">Streaming churn prediction · live operations</span>
      </div>
      <div class="conn">
        <span id="updated" class="num">—</span>
        <span id="conn" class="pill" data-state="connecting" title="Polling once per second"><i class="dot"></i><span id="conn-text">Connecting</span></span>
      </div>
    </header>

    <main id="grid">
      <section class="card s3 kpi">
        <span class="kpi-label">Profiles</span>
        <span class="kpi-value" id="profiles-count" data-value="">—</span>
        <span class="kpi-foot" id="profiles-foot">customer profiles in the store</span>
      </section>
      <section class="card s3 kpi">
        <span class="kpi-label">Scored</span>
        <span class="kpi-value" id="scored-count" data-value="">—</span>
        <span class="kpi-foot" id="scored-foot">profiles with a churn score</span>
      </section>
      <section class="card s3 kpi">
        <span class="kpi-label">High risk (score ≥ 70%)</span>
        <span class="kpi-value risk" id="high-risk-count" data-value="">—</span>
        <span class="kpi-foot" id="high-risk-foot">of scored profiles</span>
      </section>
      <section class="card s3 kpi">
        <span class="kpi-label">Model</span>
        <span class="kpi-value version" id="model-version" data-value="">—</span>
        <span class="kpi-foot mono" id="model-path" title="">—</span>
      </section>

      <!-- subscriber cards are inserted here, before #chart-card -->

      <section class="card s8" id="chart-card">
        <div class="card-h">
          <h2>Page views per minute</h2>
          <span class="meta" id="minutes-range">event time, UTC</span>
        </div>
        <div class="stats">
          <div><span>Last minute</span><b id="minutes-last">—</b></div>
          <div><span>Peak / min</span><b id="minutes-peak">—</b></div>
          <div><span>Average / min</span><b id="minutes-avg">—</b></div>
          <div><span>Total, 3 h</span><b id="minutes-total">—</b></div>
        </div>
        <div class="chart" id="minutes-chart"><svg id="minutes-svg" role="img" aria-label="Page views per minute"></svg></div>
      </section>

      <section class="card s4">
        <div class="card-h">
          <h2>Top pages</h2>
          <span class="meta">by views, all time</span>
        </div>
        <div class="bars" id="pages-list"><div class="empty">No page views yet</div></div>
      </section>



      <section class="card s8">
        <div class="card-h">
          <h2>Churn score distribution</h2>
          <span class="meta" id="hist-meta">20 bins over 0–100%</span>
        </div>
        <div class="chart" id="hist-chart"><svg id="hist-svg" role="img" aria-label="Churn score histogram"></svg></div>
        <div class="legend">
          <span><i style="background:var(--low)"></i>Low (&lt; 50%)</span>
          <span><i style="background:var(--mid)"></i>Elevated (50–70%)</span>
          <span><i style="background:var(--high)"></i>High (≥ 70%)</span>
        </div>
      </section>

      <section class="card s4 types">
        <div class="card-h">
          <h2>Event types</h2>
          <span class="meta" id="types-total"></span>
        </div>
        <div class="bars" id="types-list"><div class="empty">No events yet</div></div>
      </section>

      <section class="card s12">
        <div class="card-h">
          <h2>Most at-risk customers</h2>
          <span class="meta">top 10 by churn score</span>
        </div>
        <div class="table-wrap">
        <table class="risk" id="risk-table">
          <thead>
            <tr>
              <th>Customer</th>
              <th class="n">Churn score</th>
              <th>Plan</th>
              <th class="n">Tenure</th>
              <th class="n">Cancel views 30d</th>
              <th class="n">Complaints 30d</th>
              <th>Scored at (UTC)</th>
            </tr>
          </thead>
          <tbody id="risk-body"></tbody>
        </table>
        </div>
        <div class="empty" id="risk-empty">No scored customers yet</div>
      </section>
    </main>
    <footer>Refreshes every second · times in UTC · StreamScore</footer>
    <div id="tip"></div>

    <script>
    (function () {
      'use strict';

      var POLL_MS = 1000;
      var TIMEOUT_MS = 5000;
      var WINDOW_MIN = 180;
      var MIN_MS = 60000;
      var KNOWN_SUBS = ['counter', 'prediction'];
      var SUB_TITLES = { counter: 'Counter subscriber', prediction: 'Prediction subscriber' };

      var NF = new Intl.NumberFormat('en-US');
      function $(id) { return document.getElementById(id); }
      function fmtInt(n) { return NF.format(Math.round(n)); }
      function isNum(v) { return typeof v === 'number' && isFinite(v); }
      function setText(el, t) { if (el && el.textContent !== t) el.textContent = t; }
      function setAttr(el, k, v) { if (el && el.getAttribute(k) !== v) el.setAttribute(k, v); }
      function setData(el, k, v) { if (el && el.dataset[k] !== v) el.dataset[k] = v; }
      function setCls(el, c) { if (el && el.className !== c) el.className = c; }
      function setInt(el, v) {
        if (!el) return;
        if (!isNum(v)) { setText(el, '—'); setData(el, 'value', ''); return; }
        var r = Math.round(v);
        setText(el, fmtInt(r));
        setData(el, 'value', String(r));
      }
      function esc(s) {
        return String(s).replace(/[&<>"']/g, function (c) {
          return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
        });
      }
      function el(tag, cls, text) {
        var e = document.createElement(tag);
        if (cls) e.className = cls;
        if (text != null) e.textContent = text;
        return e;
      }
      function pad2(n) { return (n < 10 ? '0' : '') + n; }
      function hhmm(ms) { var d = new Date(ms); return pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()); }
      function hhmmss(ms) { var d = new Date(ms); return hhmm(ms) + ':' + pad2(d.getUTCSeconds()); }
      function ymd(ms) { return new Date(ms).toISOString().slice(0, 10); }
      function fmtPct(x, digits) { return (x * 100).toFixed(digits == null ? 1 : digits) + '%'; }
      function fmtRate(r) {
        if (!isNum(r)) return '—';
        if (r < 10) return r.toFixed(1);
        return fmtInt(r);
      }
      function fmtStamp(s) {
        if (!s) return '—';
        var t = Date.parse(s);
        if (!isFinite(t)) return String(s);
        return ymd(t) + ' ' + hhmmss(t);
      }

      // ---------- tooltip ----------
      var tip = $('tip');
      function showTip(html, x, y) {
        tip.innerHTML = html;
        tip.style.display = 'block';
        var w = tip.offsetWidth, h = tip.offsetHeight;
        var left = x + 14, top = y - h - 10;
        if (left + w > window.innerWidth - 8) left = x - w - 14;
        if (left < 8) left = 8;
        if (top < 8) top = y + 16;
        tip.style.left = left + 'px';
        tip.style.top = top + 'px';
      }
      function hideTip() { tip.style.display = 'none'; }

      // ---------- nice axis ticks ----------
      function niceStep(raw) {
        if (raw <= 0) return 1;
        var mag = Math.pow(10, Math.floor(Math.log10(raw)));
        var f = raw / mag;
        var nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
        return Math.max(1, nf * mag);
      }
      function yTicks(max, n) {
        if (!(max > 0)) max = 1;
        var step = niceStep(max / n);
        var top = Math.ceil(max / step) * step;
        var out = [];
        for (var v = 0; v <= top + 1e-9; v += step) out.push(v);
        return { top: top, ticks: out };
      }
      function compact(v) {
        if (v >= 1e6) return (v / 1e6).toFixed(v % 1e6 === 0 ? 0 : 1) + 'M';
        if (v >= 1e4) return (v / 1e3).toFixed(v % 1e3 === 0 ? 0 : 1) + 'k';
        return fmtInt(v);
      }

      // ---------- subscriber cards ----------
      var subCards = {};
      var subState = {};
      function safeId(name) { return String(name).replace(/[^A-Za-z0-9_-]/g, '_'); }
      function ensureSubCard(name) {
        if (subCards[name]) return subCards[name];
        var sid = safeId(name);
        var card = el('section', 'card s6 sub absent');
        card.setAttribute('data-sub', name);
        var h = el('div', 'card-h');
        var title = SUB_TITLES[name] || ('Subscriber · ' + name);
        h.appendChild(el('h2', null, title));
        var grp = el('span', 'chip g', '—');
        h.appendChild(grp);
        card.appendChild(h);

        var top = el('div', 'sub-top');
        var big = el('div', 'big');
        var rate = el('span', 'big-num', '—');
        rate.id = 'rate-' + sid;
        rate.dataset.value = '';
        big.appendChild(rate);
        big.appendChild(el('span', 'unit', 'events/s'));
        top.appendChild(big);
        var svgNS = 'http://www.w3.org/2000/svg';
        var spark = document.createElementNS(svgNS, 'svg');
        spark.setAttribute('class', 'spark');
        spark.setAttribute('viewBox', '0 0 120 34');
        spark.setAttribute('preserveAspectRatio', 'none');
        spark.setAttribute('aria-hidden', 'true');
        var stitle = document.createElementNS(svgNS, 'title');
        stitle.textContent = 'events/s, last 60 polls';
        spark.appendChild(stitle);
        var poly = document.createElementNS(svgNS, 'polygon');
        var line = document.createElementNS(svgNS, 'polyline');
        spark.appendChild(poly);
        spark.appendChild(line);
        top.appendChild(spark);
        card.appendChild(top);

        var dl = el('dl', 'metrics');
        function metric(label, key) {
          var d = el('div');
          d.appendChild(el('dt', null, label));
          var dd = el('dd', null, '—');
          dd.id = key + '-' + sid;
          dd.dataset.value = '';
          d.appendChild(dd);
          dl.appendChild(d);
          return dd;
        }
        var processed = metric('Processed', 'processed');
        var lag = metric('Lag', 'lag');
        var malformed = metric('Malformed', 'malformed');
        card.appendChild(dl);

        var parts = el('div', 'parts');
        parts.appendChild(el('span', null, 'Partitions'));
        var chips = el('span', 'chips');
        chips.appendChild(el('span', 'chip', '—'));
        parts.appendChild(chips);
        var extra = el('span', null, '');
        extra.style.marginLeft = 'auto';
        parts.appendChild(extra);
        card.appendChild(parts);

        $('grid').insertBefore(card, $('chart-card'));
        var refs = { card: card, grp: grp, rate: rate, poly: poly, line: line, processed: processed, lag: lag, malformed: malformed, chips: chips, extra: extra, partsKey: '' };
        subCards[name] = refs;
        return refs;
      }
      KNOWN_SUBS.forEach(ensureSubCard);

      function drawSpark(refs, hist) {
        var n = 60;
        var pts = hist.slice(-n);
        if (pts.length < 2) { setAttr(refs.line, 'points', ''); setAttr(refs.poly, 'points', ''); return; }
        var max = 0;
        pts.forEach(function (v) { if (v > max) max = v; });
        if (max <= 0) max = 1;
        var coords = pts.map(function (v, i) {
          var x = (i / (pts.length - 1)) * 120;
          var y = 33 - (v / max) * 27;
          return x.toFixed(1) + ',' + y.toFixed(1);
        });
        setAttr(refs.line, 'points', coords.join(' '));
        setAttr(refs.poly, 'points', '0,34 ' + coords.join(' ') + ' 120,34');
      }

      function applyStatus(s) {
        if (!s || !Array.isArray(s.subscribers)) throw new Error('bad /status');
        var now = performance.now();
        var seen = {};
        s.subscribers.forEach(function (sub) {
          var name = String(sub.name);
          seen[name] = true;
          var refs = ensureSubCard(name);
          var st = subState[name] || (subState[name] = { prev: null, rate: null, hist: [] });
          var p = Number(sub.processed);
          if (isNum(p)) {
            if (st.prev && p >= st.prev.p) {
              var dt = (now - st.prev.t) / 1000;
              if (dt >= 0.25) {
                var inst = (p - st.prev.p) / dt;
                var a = 1 - Math.exp(-dt / 5);   // ~5 s time constant
                st.rate = st.rate == null ? inst : st.rate + a * (inst - st.rate);
                st.prev = { p: p, t: now };
                st.hist.push(st.rate);
                if (st.hist.length > 120) st.hist.shift();
              }
            } else {
              if (st.prev) { st.rate = null; st.hist = []; }  // counter went backwards: restart
              st.prev = { p: p, t: now };
            }
          }
          refs.card.classList.remove('absent');
          setText(refs.grp, sub.group ? String(sub.group) : '—');
          setAttr(refs.grp, 'title', 'consumer group');
          setText(refs.rate, fmtRate(st.rate));
          setData(refs.rate, 'value', isNum(st.rate) ? String(Math.round(st.rate * 100) / 100) : '');
          drawSpark(refs, st.hist);
          setInt(refs.processed, isNum(p) ? p : null);
          var lag = sub.lag == null ? null : Number(sub.lag);
          setInt(refs.lag, lag);
          setCls(refs.lag, isNum(lag) && lag >= 100000 ? 'bad' : isNum(lag) && lag >= 10000 ? 'warn' : '');
          var mal = sub.malformed == null ? null : Number(sub.malformed);
          setInt(refs.malformed, mal);
          var parts = Array.isArray(sub.assigned_partitions) ? sub.assigned_partitions.slice().sort(function (x, y) { return x - y; }) : [];
          var key = parts.join(',');
          if (key !== refs.partsKey || !refs.chips.firstChild) {
            refs.partsKey = key;
            refs.chips.textContent = '';
            if (!parts.length) refs.chips.appendChild(el('span', 'chip', 'none assigned'));
            parts.forEach(function (pn) { refs.chips.appendChild(el('span', 'chip', String(pn))); });
          }
          setAttr(refs.chips, 'data-partitions', key);
          var extra = '';
          if (isNum(sub.scored)) extra = fmtInt(sub.scored) + ' scored';
          if (isNum(sub.lost_to_retention) && sub.lost_to_retention > 0) extra += (extra ? ' · ' : '') + fmtInt(sub.lost_to_retention) + ' lost to retention';
          setText(refs.extra, extra);
        });
        Object.keys(subCards).forEach(function (name) {
          if (!seen[name]) {
            var r = subCards[name];
            r.card.classList.add('absent');
            setText(r.grp, 'not reported');
          }
        });

        var m = s.model || {};
        var v = m.version == null ? '—' : String(m.version);
        var mv = $('model-version');
        setText(mv, v);
        setData(mv, 'value', m.version == null ? '' : String(m.version));
        var mp = $('model-path');
        setText(mp, m.path ? String(m.path) : '—');
        setAttr(mp, 'title', m.path ? String(m.path) : '');
      }

      // ---------- bar lists (pages, types) ----------
      function syncBars(container, items, keyAttr, opts) {
        // items: [{key, count}] already in display order
        var empty = container.querySelector('.empty');
        if (!items.length) {
          Array.prototype.slice.call(container.querySelectorAll('.bar-row')).forEach(function (r) { r.remove(); });
          if (!empty) container.appendChild(el('div', 'empty', opts.emptyText));
          return;
        }
        if (empty) empty.remove();
        var max = 0, total = 0;
        items.forEach(function (it) { if (it.count > max) max = it.count; total += it.count; });
        var existing = {};
        Array.prototype.slice.call(container.querySelectorAll('.bar-row')).forEach(function (r) {
          existing[r.getAttribute(keyAttr)] = r;
        });
        var keep = {};
        items.forEach(function (it, i) {
          var row = existing[it.key];
          if (!row) {
            row = el('div', 'bar-row');
            row.setAttribute(keyAttr, it.key);
            var lbl = el('div', 'lbl');
            lbl.appendChild(el('span', 'rk', ''));
            lbl.appendChild(el('span', 'tx', it.key));
            lbl.title = it.key;
            row.appendChild(lbl);
            var val = el('div', 'val');
            val.appendChild(el('span', 'c', ''));
            val.appendChild(el('span', 'pct', ''));
            row.appendChild(val);
            var track = el('div', 'track');
            var fill = el('div', 'fill');
            fill.style.width = '0%';
            track.appendChild(fill);
            row.appendChild(track);
          }
          keep[it.key] = true;
          setAttr(row, 'data-count', String(it.count));
          setText(row.querySelector('.rk'), opts.rank ? (i + 1) + '.' : '');
          if (!opts.rank) row.querySelector('.rk').style.display = 'none';
          setText(row.querySelector('.c'), fmtInt(it.count));
          setText(row.querySelector('.pct'), opts.share && total > 0 ? fmtPct(it.count / total, 1) : '');
          var w = max > 0 ? (it.count / max * 100).toFixed(2) + '%' : '0%';
          var fill2 = row.querySelector('.fill');
          if (fill2.style.width !== w) fill2.style.width = w;
          // keep DOM order equal to item order (moving a node does not flicker)
          if (container.children[i] !== row) container.insertBefore(row, container.children[i] || null);
        });
        Object.keys(existing).forEach(function (k) { if (!keep[k]) existing[k].remove(); });
      }

      function applyPages(list) {
        if (!Array.isArray(list)) throw new Error('bad /counters/pages');
        var items = list.map(function (r) { return { key: String(r.page), count: Number(r.count) || 0 }; });
        items.sort(function (a, b) { return b.count - a.count; });
        syncBars($('pages-list'), items, 'data-page', { rank: true, share: false, emptyText: 'No page views yet' });
      }

      function applyTypes(obj) {
        if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('bad /counters/types');
        var items = Object.keys(obj).map(function (k) { return { key: k, count: Number(obj[k]) || 0 }; });
        items.sort(function (a, b) { return b.count - a.count || (a.key < b.key ? -1 : 1); });
        var total = items.reduce(function (s, it) { return s + it.count; }, 0);
        syncBars($('types-list'), items, 'data-type', { rank: false, share: true, emptyText: 'No events yet' });
        setText($('types-total'), items.length ? fmtInt(total) + ' events' : '');
      }

      // ---------- minutes chart ----------
      var minutes = { anchored: false, map: {}, newest: null };
      function floorMin(ms) { return Math.floor(ms / MIN_MS) * MIN_MS; }
      function ingestMinutes(list) {
        var map = {}, newest = null;
        list.forEach(function (r) {
          var t = Date.parse(r.minute);
          if (!isFinite(t)) return;
          t = floorMin(t);
          map[t] = (map[t] || 0) + (Number(r.count) || 0);
          if (newest == null || t > newest) newest = t;
        });
        return { map: map, newest: newest };
      }
      async function loadMinutes() {
        var list;
        if (minutes.anchored && minutes.newest != null) {
          list = await fetchJSON('counters/minutes?from=' + new Date(minutes.newest - WINDOW_MIN * MIN_MS).toISOString());
          if (!Array.isArray(list)) throw new Error('bad /counters/minutes');
          if (list.length) { setMinutes(ingestMinutes(list)); return; }
          // nothing in the known window any more (store reset?) — rediscover below
          minutes.anchored = false;
        }
        var from = new Date(floorMin(Date.now()) - WINDOW_MIN * MIN_MS).toISOString();
        list = await fetchJSON('counters/minutes?from=' + from);
        if (!Array.isArray(list)) throw new Error('bad /counters/minutes');
        if (!list.length) {
          // event time may lie in the past (replayed streams): one unbounded call, keep the last 3 h
          list = await fetchJSON('counters/minutes');
          if (!Array.isArray(list)) throw new Error('bad /counters/minutes');
        }
        var got = ingestMinutes(list);
        if (got.newest != null) {
          var cut = got.newest - (WINDOW_MIN - 1) * MIN_MS;
          Object.keys(got.map).forEach(function (k) { if (Number(k) < cut) delete got.map[k]; });
          minutes.anchored = true;
        }
        setMinutes(got);
      }
      function setMinutes(got) {
        minutes.map = got.map;
        minutes.newest = got.newest;
        renderMinutes();
      }
      var minutesKey = '';
      var minutesHover = null;
      var minutesGeom = null;
      function renderMinutes() {
        var box = $('minutes-chart'), svg = $('minutes-svg');
        var W = Math.max(240, Math.round(box.clientWidth || 600));
        var H = W < 520 ? 200 : 270;
        var newest = minutes.newest;
        var counts = [];
        var start = newest == null ? null : newest - (WINDOW_MIN - 1) * MIN_MS;
        if (newest != null) for (var i = 0; i < WINDOW_MIN; i++) counts.push(minutes.map[start + i * MIN_MS] || 0);
        var key = W + '|' + H + '|' + start + '|' + counts.join(',');
        if (key === minutesKey) return;
        minutesKey = key;

        var total = 0, peak = 0, nonEmpty = 0;
        counts.forEach(function (c) { total += c; if (c > peak) peak = c; if (c > 0) nonEmpty++; });
        if (newest != null) {
          setInt($('minutes-last'), counts[counts.length - 1]);
          setInt($('minutes-peak'), peak);
          setText($('minutes-avg'), fmtInt(total / WINDOW_MIN));
          setInt($('minutes-total'), total);
          var d0 = ymd(start), d1 = ymd(newest);
          setText($('minutes-range'), (d0 === d1 ? d0 + ' ' + hhmm(start) : d0 + ' ' + hhmm(start) + ' – ' + d1) + ' – ' + hhmm(newest) + ' UTC (event time)');
        } else {
          ['minutes-last', 'minutes-peak', 'minutes-total'].forEach(function (id) { setInt($(id), null); });
          setText($('minutes-avg'), '—');
          setText($('minutes-range'), 'event time, UTC');
        }

        var ml = 44, mr = 14, mt = 10, mb = 26;
        var iw = W - ml - mr, ih = H - mt - mb;
        var out = [];
        setAttr(svg, 'viewBox', '0 0 ' + W + ' ' + H);
        setAttr(svg, 'height', String(H));
        if (newest == null) {
          minutesGeom = null;
          out.push('<line class="ax" x1="' + ml + '" x2="' + (W - mr) + '" y1="' + (mt + ih + 0.5) + '" y2="' + (mt + ih + 0.5) + '"/>');
          out.push('<text class="nodata" x="' + (ml + iw / 2) + '" y="' + (mt + ih / 2) + '" text-anchor="middle">No events yet</text>');
          svg.innerHTML = out.join('');
          return;
        }
        var yt = yTicks(peak, H < 220 ? 3 : 4);
        function X(i) { return ml + (i / (WINDOW_MIN - 1)) * iw; }
        function Y(v) { return mt + ih - (v / yt.top) * ih; }
        yt.ticks.forEach(function (v) {
          var y = Math.round(Y(v)) + 0.5;
          out.push('<line class="' + (v === 0 ? 'ax' : 'gl') + '" x1="' + ml + '" x2="' + (W - mr) + '" y1="' + y + '" y2="' + y + '"/>');
          out.push('<text x="' + (ml - 8) + '" y="' + (y + 4) + '" text-anchor="end">' + compact(v) + '</text>');
        });
        // time ticks on round UTC minutes
        var steps = [5, 10, 15, 20, 30, 60];
        var maxLabels = Math.max(2, Math.floor(iw / 64));
        var step = 60;
        for (var si = 0; si < steps.length; si++) { if (WINDOW_MIN / steps[si] <= maxLabels) { step = steps[si]; break; } }
        for (var j = 0; j < WINDOW_MIN; j++) {
          var t = start + j * MIN_MS;
          var mins = Math.round(t / MIN_MS);
          if (mins % step !== 0) continue;
          var x = Math.round(X(j)) + 0.5;
          out.push('<line class="ax" x1="' + x + '" x2="' + x + '" y1="' + (mt + ih) + '" y2="' + (mt + ih + 4) + '"/>');
          var lbl = hhmm(t);
          if (lbl === '00:00') lbl = ymd(t).slice(5);
          out.push('<text x="' + x + '" y="' + (mt + ih + 17) + '" text-anchor="middle">' + lbl + '</text>');
        }
        var line = '', area = '';
        counts.forEach(function (c, k) {
          var p = X(k).toFixed(1) + ',' + Y(c).toFixed(1);
          line += (k ? 'L' : 'M') + p;
        });
        area = line + 'L' + X(WINDOW_MIN - 1).toFixed(1) + ',' + (mt + ih) + 'L' + X(0).toFixed(1) + ',' + (mt + ih) + 'Z';
        out.push('<path class="area" d="' + area + '"/>');
        out.push('<path class="line" d="' + line + '"/>');
        out.push('<line class="hl" id="mh-line" x1="0" x2="0" y1="' + mt + '" y2="' + (mt + ih) + '" visibility="hidden"/>');
        out.push('<circle class="dot" id="mh-dot" r="4" cx="0" cy="0" visibility="hidden"/>');
        out.push('<rect x="' + ml + '" y="' + mt + '" width="' + iw + '" height="' + ih + '" fill="transparent" id="mh-hit"/>');
        svg.innerHTML = out.join('');
        minutesGeom = { X: X, Y: Y, ml: ml, iw: iw, start: start, counts: counts, W: W };
        if (minutesHover) hoverMinutes(minutesHover.x, minutesHover.y);
      }
      function hoverMinutes(cx, cy) {
        var svg = $('minutes-svg');
        if (!minutesGeom) { hideTip(); return; }
        var r = svg.getBoundingClientRect();
        var scale = minutesGeom.W / r.width;
        var x = (cx - r.left) * scale;
        var i = Math.round((x - minutesGeom.ml) / minutesGeom.iw * (WINDOW_MIN - 1));
        if (i < 0 || i >= WINDOW_MIN) { unhoverMinutes(); return; }
        var c = minutesGeom.counts[i];
        var hl = $('mh-line'), dot = $('mh-dot');
        var px = minutesGeom.X(i).toFixed(1);
        hl.setAttribute('x1', px); hl.setAttribute('x2', px); hl.setAttribute('visibility', 'visible');
        dot.setAttribute('cx', px); dot.setAttribute('cy', minutesGeom.Y(c).toFixed(1)); dot.setAttribute('visibility', 'visible');
        var t = minutesGeom.start + i * MIN_MS;
        showTip(ymd(t) + ' ' + hhmm(t) + ' UTC<br><b>' + fmtInt(c) + '</b> page views', cx, cy);
      }
      function unhoverMinutes() {
        minutesHover = null;
        var hl = $('mh-line'), dot = $('mh-dot');
        if (hl) hl.setAttribute('visibility', 'hidden');
        if (dot) dot.setAttribute('visibility', 'hidden');
        hideTip();
      }
      $('minutes-svg').addEventListener('mousemove', function (e) { minutesHover = { x: e.clientX, y: e.clientY }; hoverMinutes(e.clientX, e.clientY); });
      $('minutes-svg').addEventListener('mouseleave', unhoverMinutes);

      // ---------- histogram ----------
      var histData = null, histKey = '', histHover = null, histGeom = null;
      function binClass(i, n) { var lo = i / n; return lo >= 0.7 - 1e-9 ? 'b-high' : lo >= 0.5 - 1e-9 ? 'b-mid' : 'b-low'; }
      function renderHist() {
        var box = $('hist-chart'), svg = $('hist-svg');
        var W = Math.max(240, Math.round(box.clientWidth || 600));
        var H = W < 520 ? 190 : 230;
        var bins = histData || [];
        var key = W + '|' + H + '|' + bins.join(',');
        if (key === histKey) return;
        histKey = key;
        var n = bins.length || 20;
        var max = 0;
        bins.forEach(function (c) { if (c > max) max = c; });
        var ml = 48, mr = 10, mt = 10, mb = 26;
        var iw = W - ml - mr, ih = H - mt - mb;
        var yt = yTicks(max, H < 210 ? 3 : 4);
        var out = [];
        setAttr(svg, 'viewBox', '0 0 ' + W + ' ' + H);
        setAttr(svg, 'height', String(H));
        yt.ticks.forEach(function (v) {
          var y = Math.round(mt + ih - (v / yt.top) * ih) + 0.5;
          out.push('<line class="' + (v === 0 ? 'ax' : 'gl') + '" x1="' + ml + '" x2="' + (W - mr) + '" y1="' + y + '" y2="' + y + '"/>');
          out.push('<text x="' + (ml - 8) + '" y="' + (y + 4) + '" text-anchor="end">' + compact(v) + '</text>');
        });
        var bw = iw / n, gap = Math.min(3, bw * 0.18);
        for (var i = 0; i < n; i++) {
          var c = bins[i] || 0;
          var h = max > 0 ? (c / yt.top) * ih : 0;
          if (c > 0 && h < 1) h = 1;
          out.push('<rect class="' + binClass(i, n) + '" data-bin="' + i + '" data-count="' + c + '" x="' + (ml + i * bw + gap / 2).toFixed(1) + '" y="' + (mt + ih - h).toFixed(1) + '" width="' + Math.max(1, bw - gap).toFixed(1) + '" height="' + h.toFixed(1) + '" rx="2"/>');
        }
        [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
          var x = Math.round(ml + f * iw) + 0.5;
          out.push('<line class="ax" x1="' + x + '" x2="' + x + '" y1="' + (mt + ih) + '" y2="' + (mt + ih + 4) + '"/>');
          out.push('<text x="' + x + '" y="' + (mt + ih + 17) + '" text-anchor="' + (f === 0 ? 'start' : f === 1 ? 'end' : 'middle') + '">' + Math.round(f * 100) + '%</text>');
        });
        if (!bins.length || max === 0) out.push('<text class="nodata" x="' + (ml + iw / 2) + '" y="' + (mt + ih / 2) + '" text-anchor="middle">No scored profiles yet</text>');
        svg.innerHTML = out.join('');
        histGeom = { ml: ml, iw: iw, n: n, W: W };
        if (histHover) hoverHist(histHover.x, histHover.y);
      }
      function hoverHist(cx, cy) {
        var svg = $('hist-svg');
        if (!histGeom || !histData) { hideTip(); return; }
        var r = svg.getBoundingClientRect();
        var x = (cx - r.left) * (histGeom.W / r.width);
        var i = Math.floor((x - histGeom.ml) / histGeom.iw * histGeom.n);
        Array.prototype.forEach.call(svg.querySelectorAll('rect.on'), function (b) { b.classList.remove('on'); });
        if (i < 0 || i >= histGeom.n) { hideTip(); return; }
        var rect = svg.querySelector('rect[data-bin="' + i + '"]');
        if (rect) rect.classList.add('on');
        var c = histData[i] || 0;
        var total = histData.reduce(function (s, v) { return s + v; }, 0);
        var lo = Math.round(i / histGeom.n * 100), hi = Math.round((i + 1) / histGeom.n * 100);
        showTip('Score ' + lo + '–' + hi + '%<br><b>' + fmtInt(c) + '</b> profiles' + (total > 0 ? ' (' + fmtPct(c / total, 1) + ')' : ''), cx, cy);
      }
      $('hist-svg').addEventListener('mousemove', function (e) { histHover = { x: e.clientX, y: e.clientY }; hoverHist(e.clientX, e.clientY); });
      $('hist-svg').addEventListener('mouseleave', function () {
        histHover = null;
        Array.prototype.forEach.call($('hist-svg').querySelectorAll('rect.on'), function (b) { b.classList.remove('on'); });
        hideTip();
      });

      // ---------- summary ----------
      function scoreColor(s) { return s >= 0.7 ? 'var(--high)' : s >= 0.5 ? 'var(--mid)' : 'var(--low)'; }
      function applySummary(d) {
        if (!d || typeof d !== 'object') throw new Error('bad /dashboard/summary');
        var profiles = isNum(d.profiles) ? d.profiles : null;
        var hist = Array.isArray(d.score_histogram) ? d.score_histogram.map(function (v) { return Number(v) || 0; }) : [];
        var histTotal = hist.reduce(function (s, v) { return s + v; }, 0);
        var scored = isNum(d.scored) ? d.scored : (hist.length ? histTotal : null);
        setInt($('profiles-count'), profiles);
        setInt($('scored-count'), scored);
        setText($('scored-foot'), isNum(scored) && profiles > 0 ? fmtPct(scored / profiles, 1) + ' of profiles have a churn score' : 'profiles with a churn score');
        var high = 0, wsum = 0;
        hist.forEach(function (c, i) {
          if (i / hist.length >= 0.7 - 1e-9) high += c;
          wsum += c * (i + 0.5) / hist.length;
        });
        setInt($('high-risk-count'), hist.length ? high : null);
        setText($('high-risk-foot'), histTotal > 0 ? fmtPct(high / histTotal, 1) + ' of scored · mean score ≈ ' + fmtPct(wsum / histTotal, 0) : 'of scored profiles');
        setText($('hist-meta'), histTotal > 0 ? fmtInt(histTotal) + ' scored profiles · 20 bins' : '20 bins over 0–100%');
        histData = hist;
        renderHist();

        // at-risk table, keyed by customer id
        var rows = Array.isArray(d.top_risk) ? d.top_risk : [];
        var body = $('risk-body');
        var existing = {};
        Array.prototype.slice.call(body.children).forEach(function (tr) { existing[tr.getAttribute('data-customer')] = tr; });
        var keep = {};
        rows.forEach(function (r, i) {
          var id = String(r.customer_id);
          var tr = existing[id];
          if (!tr) {
            tr = document.createElement('tr');
            tr.setAttribute('data-customer', id);
            tr.innerHTML =
              '<td class="cid"></td>' +
              '<td class="n sc"><span class="score"><span class="m"><i></i></span><b></b></span></td>' +
              '<td class="pl"><span class="plan"></span></td>' +
              '<td class="n tn"></td><td class="n cv"></td><td class="n cp"></td>' +
              '<td class="at"></td>';
            // narrow layout: plan/tenure/cancel/complaints flow on one line
            var tds = tr.children;
            tds[0].textContent = id;
          }
          keep[id] = true;
          var s = r.churn_score == null ? null : Number(r.churn_score);
          setAttr(tr, 'data-score', isNum(s) ? String(s) : '');
          var c = tr.children;
          setText(c[1].querySelector('b'), isNum(s) ? fmtPct(s, 1) : '—');
          var bar = c[1].querySelector('.m i');
          var bw = isNum(s) ? (Math.max(0, Math.min(1, s)) * 100).toFixed(1) + '%' : '0%';
          if (bar.style.width !== bw) bar.style.width = bw;
          var col = isNum(s) ? scoreColor(s) : 'var(--faint)';
          if (bar.style.background !== col) bar.style.background = col;
          setText(c[2].querySelector('.plan'), r.plan == null ? '—' : String(r.plan));
          setAttr(c[3], 'data-l', 'Tenure');
          setText(c[3], isNum(r.tenure_days) ? fmtInt(r.tenure_days) + ' d' : '—');
          setAttr(c[4], 'data-l', 'Cancel views');
          setText(c[4], isNum(r.cancel_views_30d) ? fmtInt(r.cancel_views_30d) : '—');
          setCls(c[4], 'n cv' + (r.cancel_views_30d > 0 ? ' cnt-hot' : ''));
          setAttr(c[5], 'data-l', 'Complaints');
          setText(c[5], isNum(r.complaints_30d) ? fmtInt(r.complaints_30d) : '—');
          setCls(c[5], 'n cp' + (r.complaints_30d > 0 ? ' cnt-hot' : ''));
          setText(c[6], fmtStamp(r.scored_at));
          setAttr(c[6], 'title', r.scored_at ? String(r.scored_at) : '');
          if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
        });
        Object.keys(existing).forEach(function (k) { if (!keep[k]) existing[k].remove(); });
        $('risk-empty').style.display = rows.length ? 'none' : '';
      }

      // ---------- polling ----------
      // The API token (when the engine requires one) is asked for once and kept in this tab only
      // (sessionStorage: gone when the tab closes, never sent anywhere but this engine).
      var TOKEN_KEY = 'streamscore.apiToken';
      var asking = false;
      function apiToken() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }
      function askToken() {
        if (asking) return;
        asking = true;
        var t = window.prompt('This engine requires its API token (kept in this tab only):', '');
        asking = false;
        if (t) { try { sessionStorage.setItem(TOKEN_KEY, t.trim()); } catch (e) {} }
      }
      function fetchJSON(url) {
        var ctl = typeof AbortController === 'function' ? new AbortController() : null;
        var timer = ctl ? setTimeout(function () { ctl.abort(); }, TIMEOUT_MS) : null;
        var headers = { 'Accept': 'application/json' };
        var token = apiToken();
        if (token) headers['Authorization'] = 'Bearer ' + token;
        return fetch(url, { cache: 'no-store', headers: headers, signal: ctl ? ctl.signal : undefined })
          .then(function (res) {
            if (res.status === 401) { askToken(); throw new Error(url + ': HTTP 401 (API token required)'); }
            if (!res.ok) throw new Error(url + ': HTTP ' + res.status);
            return res.json();
          })
          .finally(function () { if (timer) clearTimeout(timer); });
      }

      var lastOk = null;       // Date.now() of the last fully successful refresh
      var state = 'connecting';
      var failedNames = [];
      function renderConn() {
        var pill = $('conn');
        setData(pill, 'state', state);
        setData(document.body, 'state', state);
        setText($('conn-text'), state === 'live' ? 'Live' : state === 'stale' ? 'Stale' : 'Connecting');
        setAttr(pill, 'title', state === 'stale' ? 'Last poll failed: ' + failedNames.join(', ') + ' — showing last known data' : 'Polling once per second');
        var txt;
        if (lastOk == null) txt = state === 'stale' ? 'no data yet' : '';
        else {
          var ago = Math.max(0, Math.round((Date.now() - lastOk) / 1000));
          txt = 'Updated ' + hhmmss(lastOk) + ' UTC' + (state === 'stale' ? ' · ' + ago + ' s ago' : '');
        }
        setText($('updated'), txt);
      }

      async function poll() {
        var t0 = Date.now();
        var jobs = [
          ['/status', fetchJSON('status').then(applyStatus)],
          ['/counters/pages', fetchJSON('counters/pages?top=10').then(applyPages)],
          ['/counters/types', fetchJSON('counters/types').then(applyTypes)],
          ['/counters/minutes', loadMinutes()],
          ['/dashboard/summary', fetchJSON('dashboard/summary').then(applySummary)]
        ];
        var results = await Promise.allSettled(jobs.map(function (j) { return j[1]; }));
        failedNames = [];
        results.forEach(function (r, i) {
          if (r.status !== 'fulfilled') {
            failedNames.push(jobs[i][0]);
            if (window.console) console.warn('StreamScore dashboard:', jobs[i][0], r.reason);
          }
        });
        if (!failedNames.length) {
          lastOk = Date.now();
          state = 'live';
          if (document.body.dataset.loaded !== '1') document.body.dataset.loaded = '1';
        } else {
          state = 'stale';
        }
        renderConn();
        setTimeout(poll, Math.max(200, POLL_MS - (Date.now() - t0)));
      }

      setInterval(renderConn, 1000);
      var resizeTimer = null;
      function onResize() {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(function () { renderMinutes(); renderHist(); }, 60);
      }
      if (typeof ResizeObserver === 'function') {
        var ro = new ResizeObserver(onResize);
        ro.observe($('minutes-chart'));
        ro.observe($('hist-chart'));
      } else {
        window.addEventListener('resize', onResize);
      }
      renderMinutes();
      renderHist();
      renderConn();
      poll();
    })();
    </script>
    </body>
    </html>
    """#
}
