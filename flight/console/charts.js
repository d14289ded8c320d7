// Strata console: SVG drawings (stage DAG, timeline, bar charts, run history, line chart). No dependencies.
// Every text that comes from data is set with textContent; colours are CSS classes (see app.css) or SVG
// presentation attributes, so the page works under a Content-Security-Policy without 'unsafe-inline'.
'use strict';

window.StrataCharts = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  let uid = 0;

  // Create an SVG element: svg('rect', {x: 1}, child, 'text', ...); null/undefined attributes and children are skipped.
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
  }

  const title = (text) => svg('title', {}, text);

  // A CSS-class-safe token from a data value (a stage kind, a state).
  const token = (v) => String(v === null || v === undefined ? '' : v).toLowerCase().replace(/[^a-z0-9_-]/g, '');

  function truncate(text, max) {
    const s = String(text);
    return s.length > max ? s.slice(0, Math.max(1, max - 1)) + '…' : s;
  }

  function fmtInt(n) {
    return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US');
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return '–';
    ms = Number(ms);
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m - h * 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  // An axis value: compact for large magnitudes, at most a few decimals otherwise.
  function fmtNum(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return `${+(v / 1e9).toFixed(2)}B`;
    if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
    if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
    if (a >= 100) return String(+v.toFixed(0));
    if (a >= 1) return String(+v.toFixed(2));
    return String(+v.toPrecision(3));
  }

  // A data value in a tooltip: exact up to 4 decimals, compact only when huge.
  const fmtValue = (v) => (Math.abs(v) >= 1e7 ? fmtNum(v) : Number(v.toFixed(4)).toLocaleString('en-US', { maximumFractionDigits: 4 }));

  // Round tick positions covering [min, max] with about `count` steps.
  function niceTicks(min, max, count) {
    if (!isFinite(min) || !isFinite(max)) { min = 0; max = 1; }
    if (min === max) { const d = Math.abs(min) * 0.05 || 1; min -= d; max += d; }
    const raw = (max - min) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const err = raw / mag;
    const step = (err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1) * mag;
    const lo = Math.floor(min / step) * step;
    const hi = Math.ceil(max / step) * step;
    const ticks = [];
    for (let v = lo; v <= hi + step / 2; v += step) ticks.push(+v.toPrecision(12));
    return { lo, hi, step, ticks };
  }

  function frame(width, height, cls, testid) {
    return svg('svg', {
      xmlns: NS, class: `chart ${cls}`, 'data-testid': testid, width, height,
      viewBox: `0 0 ${width} ${height}`, role: 'img',
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Stage DAG: longest-path layering from the inputs (left to right), barycentre ordering within layers.
  // Inputs that are not stages of the run are drawn as dashed "external" nodes.
  function dag(stages, opts = {}) {
    const W = 178, H = 52, GX = 64, GY = 20, PAD = 14;
    const nodes = new Map();
    stages.forEach((s, i) => {
      if (!nodes.has(s.stage)) {
        nodes.set(s.stage, { name: s.stage, kind: s.kind, rows: s.rows_out, elapsed: s.elapsed_ms,
          inputs: Array.isArray(s.inputs) ? [...new Set(s.inputs.map(String))] : [], index: i, external: false });
      }
    });
    let ext = 0;
    for (const n of [...nodes.values()]) {
      for (const inp of n.inputs) {
        if (!nodes.has(inp)) nodes.set(inp, { name: inp, kind: 'external', inputs: [], index: -1000 + ext++, external: true });
      }
    }
    // Layer = longest path from a node without inputs; a cycle (never expected) is cut where it is found.
    const layer = new Map();
    const visiting = new Set();
    const layerOf = (name) => {
      if (layer.has(name)) return layer.get(name);
      if (visiting.has(name)) return 0;
      visiting.add(name);
      const n = nodes.get(name);
      let l = 0;
      for (const inp of n.inputs) l = Math.max(l, layerOf(inp) + 1);
      visiting.delete(name);
      layer.set(name, l);
      return l;
    };
    for (const name of nodes.keys()) layerOf(name);
    const layers = [];
    for (const n of nodes.values()) {
      n.layer = layer.get(n.name);
      (layers[n.layer] = layers[n.layer] || []).push(n);
    }
    for (let l = 0; l < layers.length; l++) {
      layers[l] = layers[l] || [];
      layers[l].sort((a, b) => a.index - b.index);
    }
    // An edge longer than one layer passes through a dummy slot in each layer between, so that the ordering keeps
    // it apart from the nodes there and it is drawn through a gap instead of under a node.
    const preds = new Map();
    const succs = new Map();
    for (const n of nodes.values()) { preds.set(n, []); succs.set(n, []); }
    const link = (a, b) => { preds.get(b).push(a); succs.get(a).push(b); };
    const edgeList = [];
    for (const n of nodes.values()) {
      for (const inp of n.inputs) {
        const u = nodes.get(inp);
        const chain = [];
        let prev = u;
        for (let l = u.layer + 1; l < n.layer; l++) {
          const d = { dummy: true, index: n.index, layer: l };
          preds.set(d, []);
          succs.set(d, []);
          layers[l].push(d);
          link(prev, d);
          chain.push(d);
          prev = d;
        }
        link(prev, n);
        edgeList.push({ from: u, to: n, chain });
      }
    }
    const pos = new Map();
    layers.forEach((ln) => ln.forEach((it, i) => pos.set(it, i)));
    const reorder = (ln, neighbours) => {
      const key = new Map(ln.map((it) => {
        const ns = neighbours.get(it);
        return [it, ns.length ? ns.reduce((a, m) => a + pos.get(m), 0) / ns.length : pos.get(it)];
      }));
      ln.sort((a, b) => key.get(a) - key.get(b) || a.index - b.index);
      ln.forEach((it, i) => pos.set(it, i));
    };
    for (let sweep = 0; sweep < 6; sweep++) {
      for (let l = 1; l < layers.length; l++) reorder(layers[l], preds);
      for (let l = layers.length - 2; l >= 0; l--) reorder(layers[l], succs);
    }
    for (let l = 1; l < layers.length; l++) reorder(layers[l], preds);
    const DH = 10;
    const size = (it) => (it.dummy ? DH : H);
    const gap = (a, b) => (a.dummy && b.dummy ? 6 : a.dummy || b.dummy ? 12 : GY);
    const extent = (ln) => ln.reduce((acc, it, i) => acc + size(it) + (i ? gap(ln[i - 1], it) : 0), 0);
    const tallest = Math.max(H, ...layers.map(extent));
    const width = PAD * 2 + layers.length * W + Math.max(0, layers.length - 1) * GX;
    const height = PAD * 2 + tallest;
    layers.forEach((ln, l) => {
      let y = PAD + (tallest - extent(ln)) / 2;
      ln.forEach((it, i) => {
        if (i) y += gap(ln[i - 1], it);
        it.x = PAD + l * (W + GX);
        it.y = y;
        it.cy = y + size(it) / 2;
        y += size(it);
      });
    });

    const root = frame(width, height, 'dag', 'dag');
    const marker = `dag-arrow-${++uid}`;
    root.appendChild(svg('defs', {}, svg('marker', {
      id: marker, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse',
    }, svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }))));
    const edges = svg('g', { class: 'edges' });
    const group = svg('g', { class: 'nodes' });
    root.append(edges, group);
    const curve = (x1, y1, x2, y2) => {
      const dx = Math.max(20, (x2 - x1) / 2);
      return ` C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`;
    };
    const edgeEls = [];
    for (const e of edgeList) {
      let x = e.from.x + W;
      let y = e.from.cy;
      let d = `M ${x} ${y}`;
      for (const m of e.chain) {
        d += `${curve(x, y, m.x, m.cy)} L ${m.x + W} ${m.cy}`;
        x = m.x + W;
        y = m.cy;
      }
      d += curve(x, y, e.to.x - 2, e.to.cy);
      const path = svg('path', { class: 'edge', d, 'marker-end': `url(#${marker})` }, title(`${e.from.name} → ${e.to.name}`));
      path.dataset.from = e.from.name;
      path.dataset.to = e.to.name;
      edges.appendChild(path);
      edgeEls.push(path);
    }
    const nodeEls = new Map();
    for (const n of nodes.values()) {
      const { x, y } = n;
      const failed = opts.failedStage !== null && opts.failedStage !== undefined && n.name === opts.failedStage;
      const cls = ['node', `kind-${token(n.kind)}`, n.external ? 'external' : '', failed ? 'failed' : ''].filter(Boolean).join(' ');
      const sub = n.external ? 'input' : [n.kind || '?', n.rows === null || n.rows === undefined ? null : `${fmtInt(n.rows)} rows`]
        .filter(Boolean).join(' · ');
      const tip = n.external ? `${n.name} (not a stage of this run)` :
        `${n.name}\nkind: ${n.kind}\nrows out: ${fmtInt(n.rows)}\ntime: ${fmtMs(n.elapsed)}${failed ? '\nFAILED here' : ''}`;
      const g = svg('g', { class: cls, transform: `translate(${x},${y})` },
        title(tip),
        svg('rect', { width: W, height: H, rx: 7, ry: 7 }),
        svg('rect', { class: 'stripe', width: 6, height: H, rx: 3, ry: 3 }),
        svg('text', { class: 'name', x: 14, y: 21 }, truncate(n.name, 20)),
        svg('text', { class: 'sub', x: 14, y: 39 }, truncate(sub, 25)));
      if (!n.external) g.setAttribute('data-testid', 'dag-node');
      g.setAttribute('data-stage', n.name);
      group.appendChild(g);
      nodeEls.set(n.name, g);
    }
    // Hover: highlight a node's inputs and consumers.
    for (const [name, g] of nodeEls) {
      g.addEventListener('mouseenter', () => {
        root.classList.add('focus');
        g.classList.add('hl');
        for (const e of edgeEls) {
          if (e.dataset.from === name || e.dataset.to === name) {
            e.classList.add('hl');
            nodeEls.get(e.dataset.from).classList.add('hl');
            nodeEls.get(e.dataset.to).classList.add('hl');
          }
        }
      });
      g.addEventListener('mouseleave', () => {
        root.classList.remove('focus');
        root.querySelectorAll('.hl').forEach((el) => el.classList.remove('hl'));
      });
    }
    return root;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Timeline (Gantt): one bar per stage from started_ms for elapsed_ms; tasks packed into lanes under their stage.
  function timeline(stages, tasks, opts = {}) {
    const LABEL = 214, CHART = 700, RIGHT = 80, ROW = 24, LANE = 9, TOP = 28;
    tasks = Array.isArray(tasks) ? tasks : [];
    const end = (s) => (Number(s.started_ms) || 0) + (Number(s.elapsed_ms) || 0);
    const total = Math.max(1, ...stages.map(end), ...tasks.map(end));
    const ticks = niceTicks(0, total, 6);
    const span = Math.max(ticks.hi, 1);
    const X = (v) => LABEL + (v / span) * CHART;
    const byStage = new Map();
    for (const t of tasks) {
      const k = String(t.stage);
      if (!byStage.has(k)) byStage.set(k, []);
      byStage.get(k).push(t);
    }
    const rows = stages.map((s) => ({ stage: s, tasks: byStage.get(String(s.stage)) || [] }));
    const known = new Set(stages.map((s) => String(s.stage)));
    for (const [k, ts] of byStage) if (!known.has(k)) rows.push({ stage: { stage: k, kind: 'tasks', started_ms: null, elapsed_ms: null, orphan: true }, tasks: ts });
    // Greedy lane packing of each stage's tasks.
    for (const r of rows) {
      const sorted = [...r.tasks].sort((a, b) => (Number(a.started_ms) || 0) - (Number(b.started_ms) || 0));
      const lanes = [];
      r.placed = sorted.map((t) => {
        const st = Number(t.started_ms) || 0;
        let lane = lanes.findIndex((e) => e <= st);
        if (lane < 0) { lane = lanes.length; lanes.push(0); }
        lanes[lane] = st + (Number(t.elapsed_ms) || 0) + span * 0.002;
        return { t, lane };
      });
      r.height = ROW + (lanes.length ? lanes.length * (LANE + 2) + 4 : 0);
    }
    const height = TOP + rows.reduce((a, r) => a + r.height, 0) + 8;
    const width = LABEL + CHART + RIGHT;
    const root = frame(width, height, 'timeline', 'timeline');
    const axis = svg('g', { class: 'axis' });
    for (const v of ticks.ticks) {
      axis.append(
        svg('line', { class: 'grid', x1: X(v), x2: X(v), y1: TOP - 6, y2: height - 6 }),
        svg('text', { x: X(v), y: TOP - 12, 'text-anchor': 'middle' }, fmtMs(v)));
    }
    root.appendChild(axis);
    let y = TOP;
    rows.forEach((r, i) => {
      const s = r.stage;
      const failed = opts.failedStage !== null && opts.failedStage !== undefined && s.stage === opts.failedStage;
      const unknown = s.started_ms === null || s.started_ms === undefined;
      const g = svg('g', { class: `row ${i % 2 ? 'odd' : 'even'}` });
      g.appendChild(svg('rect', { class: 'band', x: 0, y, width, height: r.height }));
      g.appendChild(svg('text', { class: 'label', x: 8, y: y + 16 }, truncate(s.stage, 26), title(String(s.stage))));
      if (!s.orphan) {
        const x0 = X(Number(s.started_ms) || 0);
        const w = Math.max(2, X(end(s)) - x0);
        const cls = ['bar', `kind-${token(s.kind)}`, unknown ? 'unknown' : '', failed ? 'failed' : ''].filter(Boolean).join(' ');
        g.appendChild(svg('rect', { class: cls, x: x0, y: y + 5, width: w, height: ROW - 10, rx: 3 },
          title(`${s.stage} (${s.kind})\nstart: ${unknown ? 'not recorded' : '+' + fmtMs(s.started_ms)}\ntook: ${fmtMs(s.elapsed_ms)}`)));
        g.appendChild(svg('text', { class: 'value', x: x0 + w + 5, y: y + 16 }, fmtMs(s.elapsed_ms)));
      }
      for (const { t, lane } of r.placed) {
        const st = Number(t.started_ms) || 0;
        const x0 = X(st);
        const w = Math.max(1.5, X(st + (Number(t.elapsed_ms) || 0)) - x0);
        const ty = y + ROW + lane * (LANE + 2);
        const tcls = ['task', `state-${token(t.state)}`, t.started_ms === null || t.started_ms === undefined ? 'unknown' : ''].filter(Boolean).join(' ');
        g.appendChild(svg('rect', { class: tcls, x: x0, y: ty, width: w, height: LANE, rx: 1.5 },
          title(`task ${t.task} of ${t.stage}\nexecutor: ${t.executor === null || t.executor === undefined ? '–' : t.executor}\n` +
            `state: ${t.state}\nstart: +${fmtMs(t.started_ms)}\ntook: ${fmtMs(t.elapsed_ms)}`)));
      }
      root.appendChild(g);
      y += r.height;
    });
    return root;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Horizontal bars: items [{label, value, cls, tip}], values formatted with opts.format.
  function hbars(items, opts = {}) {
    const LABEL = 206, CHART = 560, RIGHT = 90, ROW = 22, TOP = 6;
    const fmt = opts.format || fmtNum;
    const max = Math.max(1, ...items.map((i) => Number(i.value) || 0));
    const height = TOP * 2 + items.length * ROW;
    const root = frame(LABEL + CHART + RIGHT, height, 'hbars', opts.testid || null);
    items.forEach((it, i) => {
      const y = TOP + i * ROW;
      const w = it.value === null || it.value === undefined ? 0 : Math.max(1.5, (Number(it.value) / max) * CHART);
      root.append(
        svg('text', { class: 'label', x: LABEL - 8, y: y + 15, 'text-anchor': 'end' }, truncate(it.label, 25), title(String(it.label))),
        svg('rect', { class: `bar ${it.cls || ''}`, x: LABEL, y: y + 4, width: w, height: ROW - 8, rx: 3 },
          title(it.tip || `${it.label}: ${fmt(it.value)}`)),
        svg('text', { class: 'value', x: LABEL + w + 6, y: y + 15 }, fmt(it.value)));
    });
    return root;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // A job's run durations as vertical bars, oldest left; opts.current marks a run, opts.onSelect(run) on click.
  function history(runs, opts = {}) {
    const LEFT = 64, TOP = 12, PLOT_H = 150, BOTTOM = 40, SLOT = Math.max(34, Math.min(70, 640 / Math.max(1, runs.length)));
    const width = LEFT + runs.length * SLOT + 16;
    const height = TOP + PLOT_H + BOTTOM;
    const max = Math.max(1, ...runs.map((r) => Number(r.elapsed_ms) || 0));
    const ticks = niceTicks(0, max, 4);
    const Y = (v) => TOP + PLOT_H - (v / ticks.hi) * PLOT_H;
    const root = frame(Math.max(width, 320), height, 'history-chart', 'history-chart');
    for (const v of ticks.ticks) {
      root.append(
        svg('line', { class: 'grid', x1: LEFT, x2: Math.max(width, 320) - 8, y1: Y(v), y2: Y(v) }),
        svg('text', { class: 'axis-label', x: LEFT - 6, y: Y(v) + 4, 'text-anchor': 'end' }, fmtMs(v)));
    }
    const pts = [];
    runs.forEach((r, i) => {
      const cx = LEFT + i * SLOT + SLOT / 2;
      const v = Number(r.elapsed_ms);
      const has = r.elapsed_ms !== null && r.elapsed_ms !== undefined && isFinite(v);
      const bw = SLOT * 0.56;
      const cur = opts.current !== undefined && r.run_id === opts.current;
      const g = svg('g', { class: `run state-${token(r.state)}${cur ? ' current' : ''}`, tabindex: 0 },
        title(`${r.run_id}\n${r.started_at || ''}\nstate: ${r.state}\nduration: ${fmtMs(r.elapsed_ms)}`));
      g.appendChild(svg('rect', { class: 'hit', x: cx - SLOT / 2, y: TOP, width: SLOT, height: PLOT_H }));
      if (has) {
        g.appendChild(svg('rect', { class: 'bar', x: cx - bw / 2, y: Y(v), width: bw, height: Math.max(1, TOP + PLOT_H - Y(v)), rx: 2 }));
        pts.push([cx, Y(v)]);
      } else {
        g.appendChild(svg('text', { class: 'axis-label', x: cx, y: TOP + PLOT_H - 4, 'text-anchor': 'middle' }, '–'));
      }
      const d = r.started_at ? new Date(r.started_at) : null;
      const two = (n) => String(n).padStart(2, '0');
      const l1 = d && !isNaN(d) ? `${two(d.getMonth() + 1)}-${two(d.getDate())}` : '';
      const l2 = d && !isNaN(d) ? `${two(d.getHours())}:${two(d.getMinutes())}` : '';
      g.append(svg('text', { class: 'axis-label', x: cx, y: TOP + PLOT_H + 15, 'text-anchor': 'middle' }, l1),
        svg('text', { class: 'axis-label', x: cx, y: TOP + PLOT_H + 28, 'text-anchor': 'middle' }, l2));
      if (opts.onSelect) {
        g.addEventListener('click', () => opts.onSelect(r));
        g.addEventListener('keydown', (e) => { if (e.key === 'Enter') opts.onSelect(r); });
      }
      root.appendChild(g);
    });
    if (pts.length > 1) {
      root.appendChild(svg('polyline', { class: 'trend', points: pts.map((p) => p.join(',')).join(' ') }));
      for (const [x, y] of pts) root.appendChild(svg('circle', { class: 'trend-dot', cx: x, cy: y, r: 2.5 }));
    }
    root.appendChild(svg('line', { class: 'axis-line', x1: LEFT, x2: Math.max(width, 320) - 8, y1: TOP + PLOT_H, y2: TOP + PLOT_H }));
    return root;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Line chart of a table's series over x_values; nulls are gaps. Series far off the first series' scale (volume,
  // RSI, MACD, ...) go to a lower panel with their own axis so the price lines stay readable.
  const PALETTE = ['#1f5fbf', '#e07b00', '#2e9e4f', '#c23b8f', '#7b52c7', '#0f9aa8', '#b5802b', '#d2403a', '#5b6b7a', '#8cab12'];

  function lines(xValues, series, opts = {}) {
    const W = 1180, LEFT = 70, RIGHT = 20, TOP = 14, PANEL1 = 330, GAP = 34, PANEL2 = 150, BOTTOM = 34;
    const n = Array.isArray(xValues) ? xValues.length : 0;
    const clean = series.map((s, i) => {
      const vals = (Array.isArray(s.values) ? s.values : []).map((v) => (v === null || v === undefined || !isFinite(Number(v)) ? null : Number(v)));
      return { name: String(s.name), values: vals, colour: PALETTE[i % PALETTE.length] };
    });
    const finite = (s) => s.values.filter((v) => v !== null);
    const median = (a) => { const b = [...a].sort((x, y) => x - y); return b.length ? b[Math.floor(b.length / 2)] : null; };
    // The first series is the price; another stays with it when it is named like a price overlay (moving averages,
    // bands) or, unnamed, when its median sits near the price's range; oscillators and volumes go below.
    const OSCILLATOR = /(^|_)(rsi|macd|signal|hist|histogram|stoch|stochastic|adx|atr|obv|cci|willr|williams|mfi|roc|mom|momentum|volume|vol|trix|ppo|aroon)(_|$|\d)/i;
    const OVERLAY = /(^|_)(open|high|low|close|adj_close|sma|ema|wma|dema|tema|vwap|bb|bollinger|upper|lower|middle|mid|kama|trima)(_|$|\d)/i;
    const firstVals = clean.length ? finite(clean[0]) : [];
    const ref = median(firstVals);
    const lo = firstVals.length ? Math.min(...firstVals) : 0;
    const hi = firstVals.length ? Math.max(...firstVals) : 0;
    const span = Math.max(hi - lo, Math.abs(ref || 0) * 0.05);
    for (const s of clean) {
      const m = median(finite(s));
      if (s === clean[0] || ref === null || m === null) s.lower = false;
      else if (OSCILLATOR.test(s.name)) s.lower = true;
      else if (OVERLAY.test(s.name)) s.lower = false;
      else s.lower = !(m >= lo - span && m <= hi + span && (ref === 0 || (m / ref > 0.67 && m / ref < 1.5)));
    }
    const hasLower = clean.some((s) => s.lower);
    const height = TOP + PANEL1 + (hasLower ? GAP + PANEL2 : 0) + BOTTOM;
    const root = frame(W, height, 'lines', opts.testid || 'price-chart');
    const X = (i) => LEFT + (n <= 1 ? (W - LEFT - RIGHT) / 2 : (i / (n - 1)) * (W - LEFT - RIGHT));
    const panels = [{ top: TOP, h: PANEL1, series: clean.filter((s) => !s.lower) }];
    if (hasLower) panels.push({ top: TOP + PANEL1 + GAP, h: PANEL2, series: clean.filter((s) => s.lower) });
    for (const p of panels) {
      const all = p.series.flatMap(finite);
      const t = niceTicks(all.length ? Math.min(...all) : 0, all.length ? Math.max(...all) : 1, p === panels[0] ? 6 : 3);
      p.Y = (v) => p.top + p.h - ((v - t.lo) / (t.hi - t.lo)) * p.h;
      for (const v of t.ticks) {
        root.append(
          svg('line', { class: 'grid', x1: LEFT, x2: W - RIGHT, y1: p.Y(v), y2: p.Y(v) }),
          svg('text', { class: 'axis-label', x: LEFT - 6, y: p.Y(v) + 4, 'text-anchor': 'end' }, fmtNum(v)));
      }
      root.appendChild(svg('rect', { class: 'panel', x: LEFT, y: p.top, width: W - LEFT - RIGHT, height: p.h }));
      for (const s of p.series) {
        let d = '';
        let run = 0;
        const dots = [];
        s.values.forEach((v, i) => {
          if (v === null || i >= n) {
            if (run === 1) dots.push(i - 1);
            run = 0;
            return;
          }
          d += `${run === 0 ? 'M' : 'L'} ${X(i).toFixed(1)} ${p.Y(v).toFixed(1)} `;
          run++;
        });
        if (run === 1) dots.push(Math.min(s.values.length, n) - 1);
        const g = svg('g', { class: 'series' }, title(s.name));
        if (d) g.appendChild(svg('path', { d, fill: 'none', stroke: s.colour, 'stroke-width': s === clean[0] ? 2 : 1.4 }));
        for (const i of dots) g.appendChild(svg('circle', { cx: X(i), cy: p.Y(s.values[i]), r: 2, fill: s.colour }));
        root.appendChild(g);
      }
    }
    // x axis labels at about 8 evenly spaced points.
    const base = TOP + PANEL1 + (hasLower ? GAP + PANEL2 : 0);
    const every = Math.max(1, Math.ceil(n / 8));
    for (let i = 0; i < n; i += every) {
      root.appendChild(svg('text', { class: 'axis-label', x: X(i), y: base + 18, 'text-anchor': 'middle' }, String(xValues[i])));
    }
    // Hover: a cursor line and the values at the nearest x.
    const cursor = svg('line', { class: 'cursor', x1: 0, x2: 0, y1: TOP, y2: base, visibility: 'hidden' });
    const tip = svg('g', { class: 'tip', visibility: 'hidden' });
    const tipBg = svg('rect', { rx: 4, ry: 4 });
    const tipText = svg('text', {});
    tip.append(tipBg, tipText);
    const overlay = svg('rect', { class: 'overlay', x: LEFT, y: TOP, width: W - LEFT - RIGHT, height: base - TOP });
    root.append(cursor, overlay, tip);
    overlay.addEventListener('mousemove', (ev) => {
      if (n === 0) return;
      const box = root.getBoundingClientRect();
      const sx = ((ev.clientX - box.left) / box.width) * W;
      const i = Math.max(0, Math.min(n - 1, Math.round(((sx - LEFT) / (W - LEFT - RIGHT)) * (n - 1))));
      cursor.setAttribute('x1', X(i));
      cursor.setAttribute('x2', X(i));
      cursor.setAttribute('visibility', 'visible');
      while (tipText.firstChild) tipText.removeChild(tipText.firstChild);
      const linesOut = [[String(xValues[i]), null]].concat(clean.map((s) => [`${s.name}: ${s.values[i] === null || s.values[i] === undefined ? '–' : fmtValue(s.values[i])}`, s.colour]));
      linesOut.forEach(([text, colour], k) => {
        tipText.appendChild(svg('tspan', { x: 8, dy: k === 0 ? 16 : 15, fill: colour || null, class: k === 0 ? 'tip-head' : null }, text));
      });
      tip.setAttribute('visibility', 'visible');
      const bb = tipText.getBBox();
      tipBg.setAttribute('width', bb.width + 16);
      tipBg.setAttribute('height', bb.height + 10);
      const tx = X(i) + 12 + bb.width + 16 > W ? X(i) - 12 - bb.width - 16 : X(i) + 12;
      tip.setAttribute('transform', `translate(${tx},${TOP + 4})`);
    });
    overlay.addEventListener('mouseleave', () => {
      cursor.setAttribute('visibility', 'hidden');
      tip.setAttribute('visibility', 'hidden');
    });
    root.legend = clean.map((s) => ({ name: s.name, colour: s.colour, lower: s.lower }));
    return root;
  }

  return { svg, dag, timeline, hbars, history, lines, fmtMs, fmtInt, fmtNum, niceTicks, token };
})();
