#!/usr/bin/env node
// Drives the scheduler's web console in headless Chromium, as a person would, and asserts what each page shows.
//
//   source dev/console.sh && strata_console_tools      # STRATA_CHROMIUM, STRATA_PLAYWRIGHT
//   node dev/console_test.mjs --url http://127.0.0.1:PORT --user alice --password-file FILE \
//     --ok-run RUN_ID --failed-run RUN_ID --expect-location jobs/x.yaml:12 --screenshots DIR \
//     [--insecure] [--chart-table gold.daily_indicators --chart-symbol AAPL] [--timeout 15000]
//
// Steps (each asserted, each with a screenshot in DIR): the login form, a wrong password refused (and the API
// answering 401 to the page), the right password, the runs list with both runs, the state filter, the successful
// run's DAG / timeline / stages / history, the failed run's error location, the executors page, optionally a table
// chart, and logging out. With --insecure (the scheduler's --insecure) there is no login and no logout step.
// Any uncaught page error or console error (other than the expected 401 answers) fails the run.
// Prints one JSON line: {"ok": true, "screenshots": [...]}; on failure {"ok": false, "step", "error"} and exits 1.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

function usage(msg) {
  if (msg) process.stderr.write(`console_test: ${msg}\n`);
  process.stderr.write('usage: node dev/console_test.mjs --url URL --user USER --password-file FILE --ok-run ID ' +
    '--failed-run ID --expect-location FILE:LINE --screenshots DIR [--insecure] [--chart-table T --chart-symbol S] ' +
    '[--expect-tasks] [--timeout MS]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { insecure: false, expectTasks: false, timeout: 15000 };
  const names = {
    '--url': 'url', '--user': 'user', '--password-file': 'passwordFile', '--ok-run': 'okRun', '--failed-run': 'failedRun',
    '--expect-location': 'expectLocation', '--screenshots': 'screenshots', '--chart-table': 'chartTable',
    '--chart-symbol': 'chartSymbol', '--timeout': 'timeout',
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let value;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { value = a.slice(eq + 1); a = a.slice(0, eq); }
    if (a === '--insecure') { opts.insecure = true; continue; }
    if (a === '--expect-tasks') { opts.expectTasks = true; continue; }
    if (a === '-h' || a === '--help') usage();
    if (!(a in names)) usage(`unknown argument ${a}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      value = argv[++i];
    }
    opts[names[a]] = value;
  }
  const need = ['url', 'okRun', 'failedRun', 'expectLocation', 'screenshots'];
  if (!opts.insecure) need.push('user', 'passwordFile');
  for (const k of need) if (!opts[k]) usage(`missing --${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  opts.url = opts.url.replace(/\/+$/, '');
  opts.timeout = Number(opts.timeout) || 15000;
  return opts;
}

// playwright-core from $STRATA_PLAYWRIGHT: the node_modules directory (dev/console.sh) or its parent.
function loadPlaywright() {
  const base = process.env.STRATA_PLAYWRIGHT;
  const require = createRequire(import.meta.url);
  const candidates = base ? [path.join(base, 'playwright-core'), path.join(base, 'node_modules', 'playwright-core')] : [];
  for (const c of candidates) {
    if (fs.existsSync(path.join(c, 'package.json'))) return require(c);
  }
  try {
    return require('playwright-core'); // NODE_PATH
  } catch (e) {
    throw new Error(`playwright-core not found (STRATA_PLAYWRIGHT=${base || 'unset'}): source dev/console.sh and run strata_console_tools`);
  }
}

const opts = parseArgs(process.argv.slice(2));
const password = opts.insecure ? null : fs.readFileSync(opts.passwordFile, 'utf8').replace(/\r?\n$/, '');
if (!opts.insecure && !password) usage(`the password file ${opts.passwordFile} is empty`);
const chromiumPath = process.env.STRATA_CHROMIUM;
if (!chromiumPath) usage('STRATA_CHROMIUM is not set: source dev/console.sh and run strata_console_tools');
fs.mkdirSync(opts.screenshots, { recursive: true });

const { chromium } = loadPlaywright();
const screenshots = [];
const problems = [];
let step = 'start';
let shotNo = 0;

class StepError extends Error {}
function check(cond, msg) {
  if (!cond) throw new StepError(msg);
}

const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--headless=new'] });
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'en-US' });
  page = await context.newPage();
  page.setDefaultTimeout(opts.timeout);
  page.on('pageerror', (e) => problems.push(`uncaught page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    const url = (m.location() && m.location().url) || '';
    // The browser logs every failed request; 401s are expected (session probe, wrong password, the 401 checks).
    if (/Failed to load resource: the server responded with a status of 401/.test(text)) return;
    if (/Failed to load resource/.test(text) && /\/favicon\.ico$/.test(url)) return;
    problems.push(`console error: ${text}${url ? ` (${url})` : ''}`);
  });

  const begin = (name) => { step = name; process.stderr.write(`== ${name}\n`); };
  const shot = async (name) => {
    const file = path.join(opts.screenshots, `${String(++shotNo).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    screenshots.push(file);
  };
  const clean = () => {
    check(problems.length === 0, `the page reported errors:\n  ${problems.join('\n  ')}`);
  };
  // What the page's own fetch of /api/runs gets: the status and whether any runs came back.
  const apiRuns = () => page.evaluate(async () => {
    const r = await fetch('/api/runs', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    let runs = null;
    try { const body = await r.json(); runs = Array.isArray(body && body.runs) ? body.runs.length : null; } catch (e) { runs = null; }
    return { status: r.status, runs };
  });
  const runIds = () => page.$$eval('[data-testid=runs] tbody tr', (rows) => rows.map((r) => r.dataset.runId));
  const waitRuns = async (want, unwanted, what) => {
    try {
      await page.waitForFunction(([w, u]) => {
        const ids = [...document.querySelectorAll('[data-testid=runs] tbody tr')].map((r) => r.dataset.runId);
        return w.every((id) => ids.includes(id)) && u.every((id) => !ids.includes(id));
      }, [want, unwanted], { timeout: opts.timeout });
    } catch (e) {
      const ids = await runIds().catch(() => []);
      const err = await page.locator('[data-testid=page-error]').allTextContents().catch(() => []);
      throw new StepError(`${what}: expected runs ${JSON.stringify(want)}${unwanted.length ? ` without ${JSON.stringify(unwanted)}` : ''}, ` +
        `the list shows ${JSON.stringify(ids)}${err.length ? `; page error: ${err.join(' ')}` : ''}`);
    }
  };
  const visible = async (selector, what) => {
    try {
      await page.locator(selector).first().waitFor({ state: 'visible', timeout: opts.timeout });
    } catch (e) {
      const err = await page.locator('[data-testid=page-error]').allTextContents().catch(() => []);
      throw new StepError(`${what}: ${selector} is not visible${err.length ? `; page error: ${err.join(' ')}` : ''}`);
    }
  };
  const gotoHash = async (hash) => {
    await page.evaluate((h) => { location.hash = h; }, hash);
  };
  const runHash = (id) => `#/runs/${encodeURIComponent(id)}`;

  // 1. The login form; a wrong password is refused and the API gives the page nothing.
  if (!opts.insecure) {
    begin('login form');
    await page.goto(`${opts.url}/`);
    await visible('[data-testid=login-form]', 'the login form');
    check(!(await page.locator('[data-testid=runs]').count()), 'runs are listed before logging in');
    clean();
    await shot('login');

    begin('wrong password refused');
    await page.fill('#login-user', opts.user);
    await page.fill('#login-password', `${password}-wrong`);
    await page.click('#login-submit');
    await visible('[data-testid=login-error]', 'the error of a wrong password');
    const msg = (await page.textContent('[data-testid=login-error]')).trim();
    check(msg.length > 0, 'the login error is empty');
    check(!msg.includes(password), 'the login error shows the password');
    check((await page.inputValue('#login-password')) === '', 'the password field keeps a refused password');
    const refused = await apiRuns();
    check(refused.status === 401, `after a wrong password GET /api/runs answered ${refused.status}, not 401`);
    check(refused.runs === null, 'after a wrong password GET /api/runs returned runs');
    clean();
    await shot('login-refused');

    // 2. The right password: the runs list shows both runs.
    begin('login');
    await page.fill('#login-user', opts.user);
    await page.fill('#login-password', password);
    await page.click('#login-submit');
    await visible('[data-testid=runs]', 'the runs list after logging in');
    check(!(await page.locator('[data-testid=login-form]').isVisible()), 'the login form is still shown after logging in');
    const userShown = (await page.textContent('[data-testid=user]')).trim();
    check(userShown === opts.user, `the bar names user ${JSON.stringify(userShown)}, not ${JSON.stringify(opts.user)}`);
    const stored = await page.evaluate(() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie]));
    check(!stored.includes(password), 'the password is kept in the page (web storage or a script-visible cookie)');
  } else {
    begin('open (insecure)');
    await page.goto(`${opts.url}/`);
    await visible('[data-testid=runs]', 'the runs list (insecure: no login)');
    check(!(await page.locator('[data-testid=login-form]').isVisible()), 'the login form is shown although the scheduler is --insecure');
  }
  await waitRuns([opts.okRun, opts.failedRun], [], 'the runs list');
  clean();
  await shot('runs');

  // 3. The state filter: only failed runs; then reset.
  begin('filter failed runs');
  await page.selectOption('[data-testid=filter-state]', 'failed');
  await waitRuns([opts.failedRun], [opts.okRun], 'state = failed');
  const states = await page.$$eval('[data-testid=runs] tbody tr', (rows) => rows.map((r) => r.dataset.state));
  check(states.every((s) => s === 'failed'), `state = failed lists runs in states ${JSON.stringify(states)}`);
  clean();
  await shot('runs-failed');
  await page.click('[data-testid=reset]');
  await waitRuns([opts.okRun, opts.failedRun], [], 'after resetting the filters');

  // 4. The successful run: DAG, timeline, stage table, history.
  begin('successful run');
  await page.getByRole('link', { name: opts.okRun, exact: true }).first().click();
  await visible('[data-testid=dag]', 'the stage DAG');
  const nodes = await page.locator('[data-testid=dag] [data-testid=dag-node]').count();
  check(nodes >= 2, `the DAG has ${nodes} stage node(s), expected at least 2`);
  await visible('[data-testid=timeline]', 'the timeline');
  const stageRows = await page.locator('[data-testid=stages] tbody tr').count();
  check(stageRows >= 1, 'the stage table has no rows');
  await visible('[data-testid=history]', 'the job history');
  try {
    await page.waitForFunction(() => {
      const h = document.querySelector('[data-testid=history]');
      return h && !h.querySelector('.loading');
    }, null, { timeout: opts.timeout });
  } catch (e) {
    throw new StepError('the job history never finished loading');
  }
  const histErr = await page.locator('[data-testid=history] [data-testid=page-error]').allTextContents();
  check(histErr.length === 0, `the job history failed: ${histErr.join(' ')}`);
  check(await page.locator('[data-testid=history] [data-testid=history-chart]').count() === 1, 'the job history draws no chart');
  const idShown = (await page.textContent('[data-testid=run-id]')).trim();
  check(idShown === opts.okRun, `the run page shows run ${JSON.stringify(idShown)}`);
  if (opts.expectTasks) {
    // A run on a cluster: its tasks are bars on the timeline and rows of the task table, each ran by a known
    // executor of one of the run's stages, inside the run's time.
    const bars = await page.locator('[data-testid=timeline] rect.task').count();
    check(bars >= 1, 'the timeline draws no task bars');
    const rows = await page.locator('[data-testid=tasks] tbody tr').count();
    check(rows === bars, `the task table has ${rows} rows for ${bars} task bars`);
    const seen = await page.evaluate(async (id) => {
      const get = async (p) => (await fetch(p, { credentials: 'same-origin' })).json();
      return { run: await get(`/api/runs/${encodeURIComponent(id)}`), executors: await get('/api/executors') };
    }, opts.okRun);
    const stages = new Set(seen.run.stages.map((s) => s.stage));
    const executors = new Set((seen.executors.executors || []).map((e) => e.id));
    check(seen.run.tasks.length === bars, `the API has ${seen.run.tasks.length} tasks for ${bars} bars`);
    for (const t of seen.run.tasks) {
      check(stages.has(t.stage), `task ${t.task} names stage ${JSON.stringify(t.stage)}, not one of the run's`);
      check(t.state !== 'succeeded' || executors.has(t.executor), `task ${t.task} ran on unknown executor ${JSON.stringify(t.executor)}`);
      check(t.started_ms >= 0 && t.started_ms + t.elapsed_ms <= seen.run.elapsed_ms + 1000,
        `task ${t.task} (+${t.started_ms} ms, ${t.elapsed_ms} ms) lies outside the run (${seen.run.elapsed_ms} ms)`);
    }
  }
  clean();
  await shot('run-ok');

  // 5. The failed run: the error's location in the job file.
  begin('failed run');
  await gotoHash(runHash(opts.failedRun));
  await visible('[data-testid=error-location]', 'the failed run\'s error location');
  const where = (await page.textContent('[data-testid=error-location]')).trim();
  check(where.includes(opts.expectLocation), `the error location is ${JSON.stringify(where)}, expected it to contain ${JSON.stringify(opts.expectLocation)}`);
  clean();
  await shot('run-failed');

  // 6. Executors: a table, or the scheduler's note that it has none.
  begin('executors');
  await page.click('[data-nav=executors]');
  await visible('[data-testid=executors], [data-testid=executors-note]', 'the executors page');
  clean();
  await shot('executors');

  // Optional: a table chart.
  if (opts.chartTable) {
    begin('table chart');
    await page.click('[data-nav=chart]');
    try {
      await page.locator('[data-testid=chart-table] option:not([value=""])').first().waitFor({ state: 'attached', timeout: opts.timeout });
    } catch (e) {
      throw new StepError('the chart page lists no tables');
    }
    await page.selectOption('[data-testid=chart-table]', opts.chartTable);
    await page.fill('[data-testid=chart-symbol]', opts.chartSymbol || '');
    await page.click('[data-testid=chart-draw]');
    await visible('[data-testid=price-chart]', 'the price chart');
    const lines = await page.locator('[data-testid=price-chart] .series path').count();
    check(lines >= 3, `the price chart draws ${lines} line(s), not the price and its indicators`);
    clean();
    await shot('chart');
  }

  // 7. Log out: the login form again, and the API answers 401.
  if (!opts.insecure) {
    begin('logout');
    await page.click('[data-testid=logout]');
    await visible('[data-testid=login-form]', 'the login form after logging out');
    const after = await apiRuns();
    check(after.status === 401, `after logging out GET /api/runs answered ${after.status}, not 401`);
    await page.reload();
    await visible('[data-testid=login-form]', 'the login form after logging out and reloading');
    clean();
    await shot('logout');
  }
  process.stdout.write(`${JSON.stringify({ ok: true, screenshots })}\n`);
} catch (e) {
  if (page) {
    const file = path.join(opts.screenshots, 'failure.png');
    try { await page.screenshot({ path: file, fullPage: true }); screenshots.push(file); } catch (_) { /* the page is gone */ }
  }
  const message = `${e.message}${problems.length && !e.message.includes(problems[0]) ? `\n  page errors: ${problems.join('\n  ')}` : ''}`;
  process.stderr.write(`console_test: step "${step}" failed: ${message}\n`);
  process.stdout.write(`${JSON.stringify({ ok: false, step, error: message, screenshots })}\n`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
