// Strata console: a read-only view of runs, stages, executors and table charts over the scheduler's JSON API.
// Vanilla ES2020, no dependencies; drawings come from charts.js (window.StrataCharts). Data is never inserted as
// HTML: every element is built with createElement and every text set with textContent.
'use strict';

(() => {
  const C = window.StrataCharts;
  const { fmtMs, fmtInt, token } = C;
  const REFRESH_MS = 10000;

  // ---------------------------------------------------------------------------------------------------------------
  // DOM helpers.

  // h('div', {class: 'x', onclick: fn, dataset: {a: 1}}, child, 'text', [more]): strings become text nodes.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'text') el.textContent = String(v);
      else if (k in el && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const $ = (id) => document.getElementById(id);
  const clear = (el) => { while (el.firstChild) el.removeChild(el.firstChild); return el; };
  const two = (n) => String(n).padStart(2, '0');

  // Local time as YYYY-MM-DD HH:MM:SS (the UTC original in the title).
  function localTime(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  }
  const timeCell = (iso) => h('span', { title: iso || '' }, localTime(iso));

  // A run's duration: the recorded one, or the time since it started while it runs.
  function runDuration(run) {
    if (run.elapsed_ms !== null && run.elapsed_ms !== undefined) return fmtMs(run.elapsed_ms);
    if (run.state === 'running' && run.started_at) {
      const ms = Date.now() - Date.parse(run.started_at);
      if (isFinite(ms)) return `${fmtMs(Math.max(0, ms))} …`;
    }
    return '–';
  }

  function badge(state) {
    const s = state === null || state === undefined ? 'unknown' : String(state);
    return h('span', { class: `badge state-${token(s)}`, 'data-testid': 'state' }, s);
  }

  const mono = (text, attrs) => h('span', Object.assign({ class: 'mono' }, attrs || {}), text);
  const num = (v) => h('td', { class: 'num' }, fmtInt(v));

  function table(headers, rows, attrs) {
    return h('table', Object.assign({ class: 'grid' }, attrs || {}),
      h('thead', {}, h('tr', {}, headers.map((c) => h('th', { class: c.startsWith('#') ? 'num' : null }, c.replace(/^#/, ''))))),
      h('tbody', {}, rows));
  }

  function section(titleText, attrs, ...body) {
    return h('section', Object.assign({ class: 'card' }, attrs || {}), h('h3', {}, titleText), body);
  }

  const note = (text, attrs) => h('p', Object.assign({ class: 'muted note' }, attrs || {}), text);
  const errorBox = (text) => h('div', { class: 'page-error', 'data-testid': 'page-error', role: 'alert' }, text);
  const loading = () => h('p', { class: 'muted loading' }, 'loading…');

  // A location with any password in its URL and its query string (SAS tokens, keys) left out.
  function redactLocation(loc) {
    if (loc === null || loc === undefined) return '–';
    return String(loc)
      .replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@?#]*)@/i, (m, scheme, user) => `${scheme}${user.split(':')[0]}${user.includes(':') ? ':***' : ''}@`)
      .replace(/\?.*$/s, '?…');
  }

  // ---------------------------------------------------------------------------------------------------------------
  // API.

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, options = {}) {
    const init = { method: options.method || 'GET', credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' };
    if (options.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, `cannot reach the scheduler (${e.message})`);
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const msg = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText || 'error'}`;
      const err = new ApiError(res.status, msg);
      if (res.status === 401 && !options.noAuthRedirect) {
        showLogin('Your session has ended: log in again.');
      }
      throw err;
    }
    return data;
  }

  const qs = (params) => {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
    const s = u.toString();
    return s ? `?${s}` : '';
  };

  // ---------------------------------------------------------------------------------------------------------------
  // Session and login.

  const session = { user: null, insecure: false };
  let generation = 0; // bumped on every page render and on logout: late answers of an old page are dropped
  let timer = null;

  function stopTimer() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
  }

  function showLogin(message) {
    generation++;
    stopTimer();
    session.user = null;
    $('topbar').hidden = true;
    clear($('main')).hidden = true;
    $('login').hidden = false;
    const err = $('login-error');
    err.hidden = !message;
    err.textContent = message || '';
    err.classList.toggle('info', !!message && message.startsWith('Your session'));
    $('login-password').value = '';
    ($('login-user').value ? $('login-password') : $('login-user')).focus();
  }

  function showApp() {
    $('login').hidden = true;
    $('topbar').hidden = false;
    $('main').hidden = false;
    $('user').textContent = session.user || '';
    $('insecure-tag').hidden = !session.insecure;
    $('logout').hidden = !!session.insecure;
    route();
  }

  async function login(ev) {
    ev.preventDefault();
    const user = $('login-user').value.trim();
    const password = $('login-password').value;
    const button = $('login-submit');
    const err = $('login-error');
    button.disabled = true;
    err.hidden = true;
    try {
      const data = await api('/api/login', { method: 'POST', body: { user, password }, noAuthRedirect: true });
      session.user = (data && data.user) || user;
      session.insecure = false;
      $('login-password').value = '';
      showApp();
    } catch (e) {
      $('login-password').value = '';
      err.classList.remove('info');
      err.textContent = e.status === 401 ? e.message : `Login failed: ${e.message}`;
      err.hidden = false;
      $('login-password').focus();
    } finally {
      button.disabled = false;
    }
  }

  async function logout() {
    try {
      await api('/api/logout', { method: 'POST', noAuthRedirect: true });
    } catch (e) {
      // Logged out either way: the session cookie is the server's to drop.
    }
    // Nothing of this user's view outlives the session.
    filters.job = ''; filters.state = ''; filters.since = '';
    knownJobs.clear();
    $('login-user').value = '';
    showLogin('');
  }

  async function boot() {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    window.addEventListener('hashchange', () => { if (session.user) route(); });
    try {
      const s = await api('/api/session', { noAuthRedirect: true });
      session.user = (s && s.user) || 'anonymous';
      session.insecure = !!(s && s.insecure);
      showApp();
    } catch (e) {
      if (e.status === 401) showLogin('');
      else {
        showLogin('');
        const err = $('login-error');
        err.textContent = `Cannot load the session: ${e.message}`;
        err.hidden = false;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Routing: #/runs, #/runs/<id>, #/executors, #/chart?table=T&symbol=S.

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const q = raw.indexOf('?');
    const path = (q < 0 ? raw : raw.slice(0, q)).split('/').filter(Boolean).map((p) => {
      try { return decodeURIComponent(p); } catch (e) { return p; }
    });
    const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    return { path, params };
  }

  function route() {
    const gen = ++generation;
    stopTimer();
    const { path, params } = parseHash();
    const main = clear($('main'));
    const page = path[0] || 'runs';
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === page);
    if (page === 'runs' && path.length > 1) runPage(main, path.slice(1).join('/'), gen);
    else if (page === 'executors') executorsPage(main, gen);
    else if (page === 'chart') chartPage(main, params, gen);
    else runsPage(main, gen);
    window.scrollTo(0, 0);
  }

  const live = (gen) => gen === generation;
  const runHref = (id) => `#/runs/${encodeURIComponent(id)}`;

  // ---------------------------------------------------------------------------------------------------------------
  // Runs list.

  const filters = { job: '', state: '', since: '' };
  const knownJobs = new Set();
  const SINCE = { '': 'all time', '1h': 'last hour', '24h': 'last 24 h', '7d': 'last 7 days' };
  const SINCE_MS = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };

  const rfc3339 = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

  function runsPage(main, gen) {
    const jobList = h('datalist', { id: 'jobs-list' }, [...knownJobs].sort().map((j) => h('option', { value: j })));
    let debounce = null;
    const jobInput = h('input', {
      type: 'search', id: 'filter-job', 'data-testid': 'filter-job', placeholder: 'any job', list: 'jobs-list',
      value: filters.job, autocomplete: 'off',
      oninput: () => { clearTimeout(debounce); debounce = setTimeout(() => { filters.job = jobInput.value.trim(); load(); }, 350); },
      onchange: () => { clearTimeout(debounce); if (filters.job !== jobInput.value.trim()) { filters.job = jobInput.value.trim(); load(); } },
    });
    const stateSelect = h('select', { id: 'filter-state', 'data-testid': 'filter-state', onchange: () => { filters.state = stateSelect.value; load(); } },
      [['', 'all'], ['running', 'running'], ['succeeded', 'succeeded'], ['failed', 'failed']].map(([v, t]) => h('option', { value: v }, t)));
    stateSelect.value = filters.state;
    const sinceSelect = h('select', { id: 'filter-since', 'data-testid': 'filter-since', onchange: () => { filters.since = sinceSelect.value; load(); } },
      Object.entries(SINCE).map(([v, t]) => h('option', { value: v }, t)));
    sinceSelect.value = filters.since;
    const status = h('span', { class: 'muted status' });
    const body = h('div', { class: 'runs-body' }, loading());
    main.append(
      h('div', { class: 'page-head' }, h('h2', {}, 'Runs'), status),
      h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); filters.job = jobInput.value.trim(); load(); } },
        h('label', {}, 'Job ', jobInput), jobList,
        h('label', {}, 'State ', stateSelect),
        h('label', {}, 'Since ', sinceSelect),
        h('button', { type: 'button', class: 'btn', 'data-testid': 'refresh', onclick: () => load() }, 'Refresh'),
        h('button', { type: 'button', class: 'btn link', 'data-testid': 'reset', onclick: () => {
          filters.job = ''; filters.state = ''; filters.since = '';
          jobInput.value = ''; stateSelect.value = ''; sinceSelect.value = '';
          load();
        } }, 'Reset')),
      body);

    let seq = 0;
    async function load() {
      stopTimer();
      const mine = ++seq;
      status.textContent = 'loading…';
      const params = { job: filters.job, state: filters.state, limit: 200 };
      if (filters.since) params.since = rfc3339(Date.now() - SINCE_MS[filters.since]);
      let data;
      try {
        data = await api(`/api/runs${qs(params)}`);
      } catch (e) {
        if (!live(gen) || mine !== seq) return;
        status.textContent = '';
        clear(body).appendChild(errorBox(`Cannot list runs: ${e.message}`));
        return;
      }
      if (!live(gen) || mine !== seq) return;
      const runs = (data && Array.isArray(data.runs) ? data.runs : []).slice();
      runs.sort((a, b) => String(b.started_at || '').localeCompare(String(a.started_at || '')));
      for (const r of runs) {
        if (r.job && !knownJobs.has(r.job)) {
          knownJobs.add(r.job);
          jobList.appendChild(h('option', { value: r.job }));
        }
      }
      const running = runs.some((r) => r.state === 'running');
      status.textContent = `${runs.length} run${runs.length === 1 ? '' : 's'} · updated ${localTime(new Date().toISOString()).slice(11)}` +
        (running ? ' · refreshing every 10 s while runs are running' : '');
      clear(body);
      if (!runs.length) {
        body.appendChild(note('No runs match these filters.', { 'data-testid': 'no-runs' }));
      } else {
        body.appendChild(table(['run', 'job', 'state', 'engine', 'mode', 'started', '#duration'], runs.map((r) =>
          h('tr', { dataset: { runId: r.run_id, state: r.state || '' } },
            h('td', {}, h('a', { href: runHref(r.run_id), class: 'mono' }, r.run_id)),
            h('td', {}, h('a', { href: '#/runs', class: 'job-link', title: `only ${r.job}`, onclick: (e) => {
              e.preventDefault(); filters.job = r.job; jobInput.value = r.job; load();
            } }, r.job)),
            h('td', { title: r.state === 'failed' ? [r.failed_stage ? `stage ${r.failed_stage}` : '', r.error || ''].filter(Boolean).join(': ') : null }, badge(r.state)),
            h('td', {}, r.engine || '–'),
            h('td', {}, r.mode || '–'),
            h('td', {}, timeCell(r.started_at)),
            h('td', { class: 'num' }, runDuration(r)))), { 'data-testid': 'runs' }));
      }
      if (running) timer = setTimeout(() => { if (live(gen)) load(); }, REFRESH_MS);
    }
    load();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // One run.

  function kv(pairs) {
    return h('dl', { class: 'kv' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  function runPage(main, id, gen, keepScroll) {
    const body = h('div', {}, loading());
    main.append(h('div', { class: 'crumbs' }, h('a', { href: '#/runs' }, '← runs')), body);
    (async () => {
      let run;
      try {
        run = await api(`/api/runs/${encodeURIComponent(id)}`);
      } catch (e) {
        if (!live(gen)) return;
        clear(body).appendChild(errorBox(e.status === 404 ? `Run ${id} not found: ${e.message}` : `Cannot load run ${id}: ${e.message}`));
        return;
      }
      if (!live(gen)) return;
      const y = window.scrollY;
      clear(body);
      renderRun(body, run, gen);
      if (keepScroll) window.scrollTo(0, y);
      if (run.state === 'running') {
        timer = setTimeout(() => {
          if (!live(gen)) return;
          const g = ++generation;
          const m = clear($('main'));
          runPage(m, id, g, true);
        }, REFRESH_MS);
      }
    })();
  }

  function renderRun(body, run, gen) {
    const stages = Array.isArray(run.stages) ? run.stages : [];
    const tasks = Array.isArray(run.tasks) ? run.tasks : [];
    const failedStage = run.failed_stage === undefined ? null : run.failed_stage;

    body.appendChild(h('div', { class: 'page-head' },
      h('h2', {}, 'Run ', mono(run.run_id, { 'data-testid': 'run-id' })), badge(run.state)));
    body.appendChild(h('section', { class: 'card summary' }, kv([
      ['job', h('a', { href: '#/runs', onclick: (e) => { e.preventDefault(); filters.job = run.job; location.hash = '#/runs'; } }, run.job || '–')],
      ['state', badge(run.state)],
      ['engine', run.engine || '–'],
      ['mode', run.mode || '–'],
      ['started', timeCell(run.started_at)],
      ['ended', timeCell(run.ended_at)],
      ['duration', runDuration(run)],
      ['stages', String(stages.length)],
    ])));

    if (run.state === 'failed' || run.error) {
      const loc = run.error_location;
      const where = loc && loc.file ? `${loc.file}:${loc.line}${loc.column !== null && loc.column !== undefined ? `:${loc.column}` : ''}` : null;
      body.appendChild(h('section', { class: 'card error-card', 'data-testid': 'run-error' },
        h('h3', {}, 'Failed'),
        where ? h('div', { class: 'where' }, h('span', { class: 'muted' }, 'at '), h('code', { class: 'location', 'data-testid': 'error-location' }, where)) : null,
        failedStage ? h('div', { class: 'where' }, h('span', { class: 'muted' }, 'in stage '), h('code', { 'data-testid': 'failed-stage' }, failedStage)) : null,
        h('pre', { class: 'error-text', 'data-testid': 'error-text' }, run.error || '(no error message recorded)')));
    }

    // DAG.
    const legendKinds = [...new Set(stages.map((s) => s.kind))];
    body.appendChild(section('Stage graph', { class: 'card', 'data-testid': 'dag-card' },
      stages.length ? [
        h('div', { class: 'scroll' }, C.dag(stages, { failedStage })),
        h('div', { class: 'legend' }, legendKinds.map((k) => h('span', { class: `key kind-${token(k)}` }, k)),
          failedStage ? h('span', { class: 'key failed' }, 'failed') : null),
      ] : note('No stages recorded.')));

    // Timeline.
    body.appendChild(section(tasks.length ? `Timeline (${tasks.length} tasks)` : 'Timeline', {},
      stages.length || tasks.length ? [
        h('div', { class: 'scroll' }, C.timeline(stages, tasks, { failedStage })),
        stages.some((s) => s.started_ms === null || s.started_ms === undefined)
          ? note('Grey bars: the stage\'s start was not recorded, so it is drawn from 0.') : null,
      ] : note('No stages recorded.')));

    // Stage table.
    body.appendChild(section('Stages', {}, stages.length ? table(['stage', 'kind', 'inputs', '#rows out', '#start ms', '#duration ms'], stages.map((s) =>
      h('tr', { class: s.stage === failedStage ? 'failed' : null, dataset: { stage: s.stage } },
        h('td', {}, mono(s.stage)),
        h('td', {}, h('span', { class: `kind kind-${token(s.kind)}` }, s.kind || '–')),
        h('td', { class: 'inputs' }, (s.inputs || []).join(', ') || '–'),
        num(s.rows_out), num(s.started_ms), num(s.elapsed_ms))), { 'data-testid': 'stages' }) : note('No stages recorded.')));

    // Durations bar chart.
    const timed = stages.filter((s) => s.elapsed_ms !== null && s.elapsed_ms !== undefined)
      .sort((a, b) => Number(b.elapsed_ms) - Number(a.elapsed_ms));
    if (timed.length) {
      body.appendChild(section('Stage durations', {}, h('div', { class: 'scroll' }, C.hbars(timed.map((s) => ({
        label: s.stage, value: Number(s.elapsed_ms), cls: `kind-${token(s.kind)}${s.stage === failedStage ? ' failed' : ''}`,
        tip: `${s.stage} (${s.kind}): ${fmtMs(s.elapsed_ms)}, ${fmtInt(s.rows_out)} rows`,
      })), { format: fmtMs, testid: 'durations' }))));
    }

    // Tasks (when the run went through executors).
    if (tasks.length) {
      body.appendChild(h('section', { class: 'card' }, h('details', {},
        h('summary', {}, h('h3', { class: 'inline' }, `Tasks (${tasks.length})`)),
        table(['stage', 'task', 'executor', 'state', '#start ms', '#duration ms'], tasks.map((t) => h('tr', {},
          h('td', {}, mono(t.stage)), h('td', { class: 'mono' }, String(t.task)), h('td', { class: 'mono' }, t.executor === null || t.executor === undefined ? '–' : String(t.executor)),
          h('td', {}, badge(t.state)), num(t.started_ms), num(t.elapsed_ms))), { 'data-testid': 'tasks' }))));
    }

    // Outputs, expectations, Kafka sources.
    const outputs = Array.isArray(run.outputs) ? run.outputs : [];
    body.appendChild(section('Outputs', {}, outputs.length ? table(['table', 'location', '#version', '#rows written', 'mode'], outputs.map((o) => h('tr', {},
      h('td', {}, mono(o.table)), h('td', { class: 'mono small' }, redactLocation(o.location)), num(o.version), num(o.rows_written), h('td', {}, o.mode || '–'))),
    { 'data-testid': 'outputs' }) : note('No outputs recorded.')));

    const expectations = Array.isArray(run.expectations) ? run.expectations : [];
    if (expectations.length) {
      body.appendChild(section('Expectations', {}, table(['table', 'rule', 'action', '#violations'], expectations.map((x) => h('tr', { class: Number(x.violations) > 0 ? 'warn' : null },
        h('td', {}, mono(x.table)), h('td', { class: 'mono small' }, x.rule === null || x.rule === undefined ? '–' : String(x.rule)), h('td', {}, x.action || '–'), num(x.violations))),
      { 'data-testid': 'expectations' })));
    }

    const sources = Array.isArray(run.sources) ? run.sources : [];
    if (sources.length) {
      const rows = [];
      for (const s of sources) {
        rows.push(h('tr', { class: 'source' },
          h('td', {}, mono(s.table)), h('td', {}, mono(s.topic)), num(s.messages),
          h('td', { class: `num${Number(s.malformed) > 0 ? ' bad' : ''}` }, fmtInt(s.malformed)), num(s.lag)));
        const parts = Array.isArray(s.partitions) ? s.partitions : [];
        if (parts.length) {
          rows.push(h('tr', { class: 'partitions' }, h('td', { colspan: 5 },
            table(['partition', '#from', '#next', '#lag'], parts.map((p) => h('tr', {},
              h('td', { class: 'mono' }, String(p.partition)), num(p.from), num(p.next), num(p.lag))), { class: 'grid sub' }))));
        }
      }
      body.appendChild(section('Kafka sources', {}, table(['table', 'topic', '#messages', '#malformed', '#lag'], rows, { 'data-testid': 'sources' })));
    }

    // History of the job.
    const hist = h('section', { class: 'card', 'data-testid': 'history' }, h('h3', {}, 'Recent runs of ', mono(run.job || '?')), loading());
    body.appendChild(hist);
    if (run.job) loadHistory(hist, run, gen);
    else { hist.lastChild.remove(); hist.appendChild(note('This run names no job.')); }
  }

  async function loadHistory(card, run, gen) {
    let data;
    try {
      data = await api(`/api/jobs/history${qs({ job: run.job, limit: 10 })}`);
    } catch (e) {
      if (!live(gen)) return;
      card.lastChild.remove();
      card.appendChild(errorBox(`Cannot load the job's history: ${e.message}`));
      return;
    }
    if (!live(gen)) return;
    card.lastChild.remove();
    const runs = data && Array.isArray(data.runs) ? data.runs : [];
    if (!runs.length) {
      card.appendChild(note('No earlier runs recorded.'));
      return;
    }
    card.appendChild(h('p', { class: 'muted' }, 'Duration per run, oldest left; click a bar to open that run.'));
    card.appendChild(h('div', { class: 'scroll' }, C.history(runs, {
      current: run.run_id, onSelect: (r) => { location.hash = runHref(r.run_id); },
    })));
    // Stages as rows, runs as columns: the latest run's order first, then stages only older runs had.
    const names = [];
    const seen = new Set();
    for (const r of [...runs].reverse()) {
      for (const s of Array.isArray(r.stages) ? r.stages : []) {
        if (!seen.has(s.stage)) { seen.add(s.stage); names.push(s.stage); }
      }
    }
    const cell = (st) => {
      if (!st) return h('td', { class: 'num muted' }, '–');
      return h('td', { class: 'num' }, h('div', {}, fmtMs(st.elapsed_ms)),
        h('div', { class: 'muted small' }, st.rows_out === null || st.rows_out === undefined ? '' : `${fmtInt(st.rows_out)} rows`));
    };
    const byRun = runs.map((r) => new Map((Array.isArray(r.stages) ? r.stages : []).map((s) => [s.stage, s])));
    const head = h('tr', {}, h('th', {}, 'stage'), runs.map((r) => h('th', { class: `num${r.run_id === run.run_id ? ' current' : ''}` },
      h('a', { href: runHref(r.run_id), class: 'mono run-col', title: r.run_id }, r.run_id),
      h('div', { class: 'muted small' }, localTime(r.started_at).slice(5, 16)))));
    const rows = names.map((name) => h('tr', {}, h('td', {}, mono(name)), byRun.map((m, i) => {
      const td = cell(m.get(name));
      if (runs[i].run_id === run.run_id) td.classList.add('current');
      return td;
    })));
    rows.push(h('tr', { class: 'total' }, h('td', {}, 'whole run'), runs.map((r) => h('td', { class: `num${r.run_id === run.run_id ? ' current' : ''}` },
      h('div', {}, fmtMs(r.elapsed_ms)), badge(r.state)))));
    card.appendChild(h('div', { class: 'scroll' }, h('table', { class: 'grid history-table', 'data-testid': 'history-table' },
      h('thead', {}, head), h('tbody', {}, rows))));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Executors.

  function executorsPage(main, gen) {
    const status = h('span', { class: 'muted status' });
    const body = h('div', {}, loading());
    main.append(h('div', { class: 'page-head' }, h('h2', {}, 'Executors'), status,
      h('button', { type: 'button', class: 'btn', 'data-testid': 'refresh', onclick: () => load() }, 'Refresh')), body);
    async function load() {
      stopTimer();
      let data;
      try {
        data = await api('/api/executors');
      } catch (e) {
        if (!live(gen)) return;
        clear(body).appendChild(errorBox(`Cannot list executors: ${e.message}`));
        return;
      }
      if (!live(gen)) return;
      clear(body);
      if (!data || data.executors === null || data.executors === undefined) {
        body.appendChild(h('section', { class: 'card' }, note((data && data.note) || 'No executor information.', { 'data-testid': 'executors-note' })));
      } else if (!data.executors.length) {
        body.appendChild(h('section', { class: 'card' }, note('No executors have registered.', { 'data-testid': 'executors-note' })));
      } else {
        const ex = data.executors;
        const alive = ex.filter((e) => e.alive).length;
        status.textContent = `${alive} of ${ex.length} alive · ${ex.reduce((a, e) => a + (Number(e.running) || 0), 0)} tasks running · refreshed every 10 s`;
        body.appendChild(h('section', { class: 'card' }, table(['id', 'host', '#port', '#slots', '#running tasks', '#last heartbeat', 'alive'], ex.map((e) =>
          h('tr', { class: e.alive ? null : 'dead' },
            h('td', {}, mono(e.id)), h('td', { class: 'mono' }, e.host === null || e.host === undefined ? '–' : String(e.host)), h('td', { class: 'num' }, e.port === null || e.port === undefined ? '–' : String(e.port)),
            num(e.slots), num(e.running),
            h('td', { class: 'num' }, e.heartbeat_seconds_ago === null || e.heartbeat_seconds_ago === undefined ? '–' : `${fmtHeartbeat(e.heartbeat_seconds_ago)} ago`),
            h('td', {}, h('span', { class: `badge ${e.alive ? 'state-succeeded' : 'state-failed'}` }, e.alive ? 'alive' : 'lost')))),
        { 'data-testid': 'executors' })));
      }
      timer = setTimeout(() => { if (live(gen)) load(); }, REFRESH_MS);
    }
    load();
  }

  function fmtHeartbeat(s) {
    s = Number(s);
    if (!isFinite(s)) return '–';
    if (s < 60) return `${Math.round(s * 10) / 10} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Table chart.

  function chartPage(main, params, gen) {
    const tableSelect = h('select', { id: 'chart-table', 'data-testid': 'chart-table', required: true }, h('option', { value: '' }, 'loading tables…'));
    const symbolInput = h('input', { id: 'chart-symbol', 'data-testid': 'chart-symbol', type: 'text', placeholder: 'symbol, e.g. AAPL', value: params.get('symbol') || '', autocomplete: 'off' });
    const body = h('div', {});
    main.append(
      h('div', { class: 'page-head' }, h('h2', {}, 'Table chart')),
      h('form', { class: 'filters', onsubmit: (e) => {
        e.preventDefault();
        if (!tableSelect.value) return;
        location.hash = `#/chart${qs({ table: tableSelect.value, symbol: symbolInput.value.trim() })}`;
      } },
      h('label', {}, 'Table ', tableSelect), h('label', {}, 'Symbol ', symbolInput),
      h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'chart-draw' }, 'Draw')),
      body);
    const wanted = params.get('table') || '';
    (async () => {
      try {
        const data = await api('/api/tables');
        if (!live(gen)) return;
        const tables = data && Array.isArray(data.tables) ? data.tables : [];
        clear(tableSelect);
        tableSelect.appendChild(h('option', { value: '' }, tables.length ? 'choose a table' : 'no tables'));
        for (const t of tables) tableSelect.appendChild(h('option', { value: t }, t));
        if (wanted && !tables.includes(wanted)) tableSelect.appendChild(h('option', { value: wanted }, wanted));
        tableSelect.value = wanted;
      } catch (e) {
        if (!live(gen)) return;
        clear(tableSelect).appendChild(h('option', { value: wanted }, wanted || 'tables unavailable'));
        body.appendChild(errorBox(`Cannot list tables: ${e.message}`));
      }
    })();
    if (!wanted) {
      body.appendChild(note('Choose a table and a symbol to draw its price and indicator columns.'));
      return;
    }
    body.appendChild(loading());
    (async () => {
      let data;
      try {
        data = await api(`/api/chart${qs({ table: wanted, symbol: params.get('symbol') || '' })}`);
      } catch (e) {
        if (!live(gen)) return;
        clear(body).appendChild(errorBox(e.message));
        return;
      }
      if (!live(gen)) return;
      clear(body);
      const series = data && Array.isArray(data.series) ? data.series : [];
      const xs = data && Array.isArray(data.x_values) ? data.x_values : [];
      if (!series.length || !xs.length) {
        body.appendChild(note('No rows for this table and symbol.', { 'data-testid': 'chart-empty' }));
        return;
      }
      const chart = C.lines(xs, series, { testid: 'price-chart' });
      body.appendChild(section([mono(data.table || wanted), data.symbol ? ` · ${data.symbol}` : '', ` · ${xs.length} ${data.x ? `${data.x} values` : 'points'}`], { class: 'card chart-card' },
        h('div', { class: 'legend' }, chart.legend.map((l) => {
          const sw = h('span', { class: 'swatch' });
          sw.style.backgroundColor = l.colour;
          return h('span', { class: 'key' }, sw, l.name, l.lower ? h('span', { class: 'muted small' }, ' (lower panel)') : null);
        })),
        h('div', { class: 'scroll' }, chart),
        xs.length ? note(`${xs[0]} – ${xs[xs.length - 1]}; gaps are missing values.`) : null));
    })();
  }

  document.addEventListener('DOMContentLoaded', boot);
})();
