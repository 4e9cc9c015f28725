// The dashboard as a person uses it, in Debian's chromium (headless) against
// a real head: node dashboard_test.mjs SCENARIO TASKRT
//   login       the `taskrt dashboard` link signs the browser in (HttpOnly,
//               SameSite=Strict cookie) once; without it the page says how
//   live_list   a task submitted with the CLI appears on /tasks, and its
//               state changes, without a reload
//   attempts    a `fail` task that fails twice and retries: its page shows
//               the attempts as they happen, and again after a reload
//   retry       an operator retries a FAILED task with the button (after a
//               confirmation; dismissing it does nothing) and watches it run
//   viewer      a viewer sees no buttons; a POST with a viewer token is
//               refused and changes nothing (an operator's is taken)
//   pages       every page by its deep link, laptop and phone, screenshots
import {startHead, submit, addToken, loginLink, launch, newPage, shot, markNoReload, until, step, fail, die}
  from './harness.mjs';

const [scenario, taskrt] = process.argv.slice(2);
if (!scenario || !taskrt) die('usage: node dashboard_test.mjs SCENARIO TASKRT');

const badgeOf = page => page.locator('.task-head .badge').first().textContent();
const describe = (head, id) => head.cliJson('tasks', 'describe', String(id));

async function signedIn(browser, head, opts) {
  const page = await newPage(browser, opts);
  const res = await page.goto(loginLink(head));
  if (!res || !res.ok()) fail(`the login link answered ${res && res.status()}`);
  await page.waitForSelector('#counts .card');
  return page;
}

const scenarios = {
  async login(head, browser) {
    const link = loginLink(head);
    step(`login link: ${link.replace(/token=.*/, 'token=…')}`);
    if (!link.startsWith(head.url)) fail(`the link ${link} is not for this head (${head.url})`);
    const page = await newPage(browser);
    const res = await page.goto(link);
    if (!res.ok()) fail(`the login link answered ${res.status()}`);
    if (new URL(page.url()).pathname !== '/') fail(`after login the browser is at ${page.url()}, not /`);
    if (page.url().includes('token=')) fail('the one-time token stayed in the address bar');
    await page.waitForSelector('#counts .card');
    const cards = await page.locator('#counts .card').count();
    if (cards !== 6) fail(`the overview shows ${cards} state counts, not 6`);
    const role = await until('the role in the header', () => page.locator('#who .role').textContent());
    step(`signed in, role ${role}`);
    const cookies = await page.context().cookies();
    const session = cookies.find(c => c.httpOnly);
    if (!session) fail(`no HttpOnly cookie was set: ${JSON.stringify(cookies)}`);
    if (session.sameSite !== 'Strict') fail(`the session cookie is SameSite=${session.sameSite}, not Strict`);
    if (await page.evaluate(name => document.cookie.includes(name), session.name))
      fail('the session cookie is readable from JavaScript');
    await until('the live feed to connect', () => page.locator('#live[data-state="live"]').count(), 15000);
    await shot(page, 'login-overview');

    // The token in the link works once.
    const again = await newPage(browser);
    const second = await again.goto(link);
    if (second.status() !== 401) fail(`the used login link answered ${second.status()}, not 401`);
    // Without a session the dashboard says how to get one, and shows no data.
    const anon = await newPage(browser);
    await anon.goto(head.url + '/tasks');
    await until('the sign-in hint', async () => (await anon.textContent('body')).includes('taskrt dashboard'));
    if (await anon.locator('#task-list tr[data-task]').count()) fail('a browser without a session sees tasks');
    await shot(anon, 'signed-out');
  },

  async live_list(head, browser) {
    const page = await signedIn(browser, head);
    await page.click('nav a[data-nav="tasks"]');
    await page.waitForSelector('#list-status:not(:has-text("Loading"))');
    await until('the live feed to connect', () => page.locator('#live[data-state="live"]').count(), 15000);
    const noReload = await markNoReload(page);
    const id = submit(head, 'sleep', {ms: 1500});
    step(`submitted sleep as task ${id} with the CLI`);
    const row = page.locator(`tr[data-task="${id}"]`);
    await row.waitFor({timeout: 15000});
    step('its row appeared');
    await until(`task ${id} shown RUNNING, then SUCCEEDED`, async () =>
      (await row.locator('.badge').textContent()) === 'SUCCEEDED', 30000);
    await noReload();
    if (describe(head, id).state !== 'SUCCEEDED') fail('the journal does not say SUCCEEDED');
    await shot(page, 'tasks-live');

    // The list as the CLI's: filters, sorting and pages, each in the address.
    const failed = submit(head, 'fail', {kind: 'std::runtime_error'}, '--policy', '{"retries":0}');
    for (const name of ['zeta', 'alpha']) submit(head, 'echo', {name});
    await until(`task ${failed} FAILED`, () => describe(head, failed).state === 'FAILED');
    const ids = async () => (await page.locator('#task-list tr[data-task]').evaluateAll(
      trs => trs.map(tr => Number(tr.dataset.task))));
    await page.selectOption('select[name="state"]', 'FAILED');
    await page.click('form.filters button[type="submit"]');
    await until('only the FAILED task listed', async () => (await ids()).join() === String(failed));
    if (!page.url().includes('state=FAILED')) fail(`the filter is not in the address: ${page.url()}`);
    await page.click('form.filters button:has-text("Clear")');
    await until('every task listed again', async () => (await ids()).length === 4);
    await page.click('button.sort[data-sort="name"]');
    await until('the list sorted by name', async () => {
      const names = await page.locator('#task-list td[data-label="Name"]').allTextContents();
      if (names.length === 4 && names.join() === [...names].sort().join() && page.url().includes('sort=name'))
        return true;
      throw new Error(`names ${names} at ${page.url()}: ${await page.textContent("#list-status")}`);
    });
    await page.goto(`${head.url}/tasks?limit=3`);
    await until('a first page of 3', async () => (await ids()).length === 3);
    const first = await ids();
    await page.click('button:has-text("Next")');
    await until('the second page', async () => (await ids()).length === 1);
    const second = await ids();
    if (Math.max(...second) >= Math.min(...first)) fail(`page 2 (${second}) is not after page 1 (${first})`);
    await page.click('button:has-text("Back")');
    await until('the first page again', async () => (await ids()).join() === first.join());
    step(`filtered, sorted by name, paged ${first} | ${second}`);
  },

  async attempts(head, browser) {
    const page = await signedIn(browser, head);
    const id = submit(head, 'fail', {kind: 'std::runtime_error', times: 2}, '--policy', '{"retries":3,"wait":1}');
    step(`submitted fail (fails twice, retries 3) as task ${id}`);
    await page.goto(`${head.url}/tasks/${id}`);
    await page.waitForSelector('.task-head .badge');
    const noReload = await markNoReload(page);
    await until('three attempts and SUCCEEDED on the page', async () =>
      (await page.locator('#timeline .tl-row').count()) === 3 && (await badgeOf(page)) === 'SUCCEEDED', 45000);
    await noReload();
    const check = async () => {
      const outcomes = await page.locator('tr[data-attempt] td[data-label="Outcome"] .badge').allTextContents();
      if (outcomes.join() !== 'FAILED,FAILED,SUCCEEDED') fail(`attempt outcomes on the page: ${outcomes}`);
      const nodes = await page.locator('tr[data-attempt] td[data-label="Node"]').allTextContents();
      if (!nodes.every(n => n.startsWith('browser-head'))) fail(`attempt nodes: ${nodes}`);
      const decisions = await page.locator('tr[data-attempt] td[data-label="Retry decision"]').allTextContents();
      if (!decisions[0].startsWith('retry') || !decisions[1].startsWith('retry'))
        fail(`retry decisions on the page: ${decisions}`);
      const errors = await page.locator('tr[data-attempt] td[data-label="Error / why"]').allTextContents();
      if (!errors[0].includes('std::runtime_error')) fail(`first attempt's error: ${errors[0]}`);
    };
    await check();
    // What ran: the task stamps the attempt it succeeded on.
    const t = describe(head, id);
    if (!t.result || t.result.succeeded_on_attempt !== 3) fail(`the task's own result: ${JSON.stringify(t.result)}`);
    await page.reload();
    await page.waitForSelector('#timeline .tl-row');
    await check();
    await shot(page, 'task-attempts');
  },

  async retry(head, browser) {
    const id = submit(head, 'fail', {kind: 'std::runtime_error', times: 1}, '--policy', '{"retries":0}');
    await until(`task ${id} FAILED`, () => describe(head, id).state === 'FAILED');
    step(`task ${id} FAILED after its one attempt`);
    const page = await signedIn(browser, head);
    await page.goto(`${head.url}/tasks/${id}`);
    const button = page.locator('#retry');
    await button.waitFor();
    if (await page.locator('#cancel').count()) fail('a FAILED task offers Cancel');
    const noReload = await markNoReload(page);
    // Dismissed: nothing is sent.
    page.once('dialog', d => d.dismiss());
    await button.click();
    await page.waitForTimeout(1000);
    if (describe(head, id).attempt !== 1 || describe(head, id).state !== 'FAILED')
      fail('a dismissed confirmation retried the task');
    // With an option of `tasks retry`: a new priority.
    await page.click('.retry-options summary');
    await page.fill('.retry-options input[name="priority"]', '7');
    let question = '';
    page.once('dialog', d => { question = d.message(); d.accept(); });
    await button.click();
    step(`confirmed: "${question}"`);
    await until('the page to show SUCCEEDED after the retry', async () =>
      (await badgeOf(page)) === 'SUCCEEDED' && (await page.locator('#timeline .tl-row').count()) === 2, 30000);
    await noReload();
    const t = describe(head, id);
    if (t.state !== 'SUCCEEDED' || !t.result || t.result.succeeded_on_attempt !== 2)
      fail(`after the retry the task is ${t.state} with result ${JSON.stringify(t.result)}`);
    if (t.priority !== 7) fail(`the retry's priority option did not apply: priority ${t.priority}`);
    if (!t.events.some(e => e.kind === 'manual_retry')) fail('no manual_retry event in the journal');
    if (await page.locator('#retry').count()) fail('a SUCCEEDED task still offers Retry');
    await shot(page, 'task-retried');
  },

  async viewer(head, browser) {
    const failed = submit(head, 'fail', {kind: 'std::runtime_error'}, '--policy', '{"retries":0}');
    const running = submit(head, 'sleep', {ms: 20000});
    await until(`task ${failed} FAILED and ${running} RUNNING`, () =>
      describe(head, failed).state === 'FAILED' && describe(head, running).state === 'RUNNING');
    const viewerToken = addToken(head, 'browser-viewer', 'viewer');
    const auth = t => ({Authorization: 'Bearer ' + t});
    const page = await newPage(browser, {extraHTTPHeaders: auth(viewerToken)});
    for (const id of [failed, running]) {
      await page.goto(`${head.url}/tasks/${id}`);
      await page.waitForSelector('.task-head .badge');
      const role = await until('the role in the header', () => page.locator('#who .role').textContent());
      if (role !== 'viewer') fail(`the header says role ${role}`);
      const buttons = await page.locator('.task-head button, #retry, #cancel').count();
      if (buttons) fail(`a viewer sees ${buttons} button(s) on task ${id}`);
    }
    // The running attempt's time moves on the page without a reload.
    const noReload = await markNoReload(page);
    const elapsed = page.locator('#progress .elapsed');
    const before = await elapsed.textContent({timeout: 15000});
    await until('the running time to move on', async () => (await elapsed.textContent()) !== before, 15000);
    // What the task reports with ctx.progress() ({"remaining_ms": N} about
    // once a second, kept by the head) is shown, and a newer value replaces
    // it without a reload.
    const reported = page.locator('#progress .reported');
    const remaining = async () => {
      if (!(await reported.count())) return null;
      const text = await reported.textContent();
      if (!text.includes('attempt 1')) fail(`the progress panel says ${text}`);
      const m = /remaining_ms\D*(\d+)/.exec(text);
      return m ? Number(m[1]) : null;
    };
    const first = await until('a reported progress value', remaining, 15000);
    const next = await until('a newer progress value',
      async () => { const v = await remaining(); return v !== null && v < first ? v : null; }, 15000);
    await noReload();
    step(`progress: remaining_ms ${first} -> ${next}`);
    step(`progress: running for ${before} -> ${await elapsed.textContent()}`);
    await shot(page, 'task-viewer');
    // A browser signed in by a viewer's link (cookie) sees none either.
    const cookiePage = await newPage(browser);
    await cookiePage.goto(loginLink(head, '--role', 'viewer'));
    await cookiePage.goto(`${head.url}/tasks/${failed}`);
    await cookiePage.waitForSelector('.task-head .badge');
    await until('the viewer role in the header', async () =>
      (await cookiePage.locator('#who .role').textContent()) === 'viewer');
    if (await cookiePage.locator('.task-head button').count()) fail('a viewer signed in by a link sees buttons');
    const post = (token, id, action) => fetch(`${head.url}/api/v1/tasks/${id}/${action}`,
      {method: 'POST', headers: {...auth(token), 'Content-Type': 'application/json'}, body: '{}'});
    for (const [id, action] of [[failed, 'retry'], [running, 'cancel']]) {
      const r = await post(viewerToken, id, action);
      const body = await r.json().catch(() => null);
      if (r.status !== 403) fail(`a viewer's POST ${action} answered ${r.status}: ${JSON.stringify(body)}`);
      if (!body || !body.error) fail(`the refusal is not {error, detail}: ${JSON.stringify(body)}`);
      step(`viewer POST ${action}: ${r.status} ${body.error}: ${body.detail}`);
    }
    if (describe(head, failed).state !== 'FAILED' || describe(head, failed).attempt !== 1)
      fail('the refused retry changed the task');
    if (describe(head, running).state !== 'RUNNING') fail('the refused cancel changed the task');
    // The same call with an operator's token is taken: the refusal was the role.
    const op = addToken(head, 'browser-operator', 'operator');
    const r = await post(op, running, 'cancel');
    if (r.status >= 300) fail(`an operator's cancel answered ${r.status}`);
    await until(`task ${running} CANCELLED`, () => describe(head, running).state === 'CANCELLED');
  },

  async pages(head, browser) {
    const id = submit(head, 'fail', {kind: 'std::runtime_error', times: 2}, '--policy', '{"retries":3,"wait":1}');
    const waiting = submit(head, 'fail', {kind: 'std::runtime_error', times: 1}, '--policy', '{"retries":2,"wait":600}');
    const crashed = submit(head, 'crash', {times: 1, signal: 'abort'});
    const checkpointed = submit(head, 'checkpoint', {steps: 3});
    for (let i = 0; i < 3; i++) submit(head, 'echo', {hello: i});
    submit(head, 'sleep', {ms: 30000}, '--queue', 'default');
    await until('the tasks to settle', () => describe(head, id).state === 'SUCCEEDED'
      && describe(head, waiting).attempts.length === 1 && describe(head, waiting).state === 'QUEUED'
      && (describe(head, crashed).attempts[0] || {}).outcome === 'LOST'
      && describe(head, checkpointed).state === 'SUCCEEDED');
    const page = await signedIn(browser, head);
    const context = page.context();
    const views = [
      // The chart has the tasks that ended before the page opened (from the
      // journal): the 4 that succeeded so far at least.
      ['overview', '/', '#counts .card', async p => step(`the overview's chart counts ${await until(
        'the chart to count the tasks that ended', async () => {
          const n = Number(await p.locator('#chart figure').getAttribute('data-succeeded'));
          return n >= 4 ? n : 0;
        }, 10000)} succeeded tasks`)],
      ['tasks', '/tasks', '#task-list tr[data-task]'],
      ['task', `/tasks/${id}`, '#timeline .tl-row'],
      ['task-waiting', `/tasks/${waiting}`, '#waiting', p => p.click('#waiting details summary')],
      ['nodes', '/nodes', 'tr[data-node="browser-head"]'],
      ['queues', '/queues', 'tr[data-queue="default"]'],
    ];
    for (const [vp, size] of [['laptop', {width: 1280, height: 860}], ['phone', {width: 390, height: 844}]]) {
      const p = await context.newPage();
      await p.setViewportSize(size);
      const errors = [];
      p.on('pageerror', e => errors.push(`${p.url()}: ${e.message}`));
      // Something the page's Content-Security-Policy refused is a bug too.
      p.on('console', m => { if (/Content.Security.Policy/i.test(m.text())) errors.push(`${p.url()}: ${m.text()}`); });
      for (const [name, path, ready, prepare] of views) {
        await p.goto(head.url + path); // a deep link, as after a reload
        await p.waitForSelector(ready, {timeout: 15000});
        if (prepare) await prepare(p);
        await p.waitForTimeout(300);
        const wide = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (wide > 2) fail(`${path} is ${wide} px wider than the ${vp} screen`);
        if (errors.length) fail(`script errors: ${errors.join('; ')}`);
        await shot(p, `${vp}-${name}`);
      }
    }
    // Checkpoints are listed with their data.
    await page.goto(`${head.url}/tasks/${checkpointed}`);
    await page.waitForSelector('#checkpoints td[data-label="Data"]');
    const cps = await page.locator('#checkpoints td[data-label="Data"]').allTextContents();
    if (!cps.length || !cps.some(c => /"step"/.test(c))) fail(`the checkpoints shown: ${cps}`);
    // A LOST attempt says why: the worker process died of a signal.
    await page.goto(`${head.url}/tasks/${crashed}`);
    const lost = await page.locator('#timeline .tl-row[data-attempt="1"]').textContent({timeout: 15000});
    if (!/LOST/.test(lost) || !/signal/i.test(lost)) fail(`the crashed attempt shows: ${lost}`);
    step(`a crashed attempt: ${lost}`);
    const why = await page.goto(`${head.url}/tasks/${waiting}`).then(() => page.locator('#waiting').textContent());
    if (!/Waiting until/.test(why) || !/retry/.test(why)) fail(`the waiting task does not say why: ${why}`);
  },
};

if (!scenarios[scenario]) die(`unknown scenario ${scenario}: ${Object.keys(scenarios).join(', ')}`);
const head = await startHead({taskrt, name: scenario});
let browser, failed = null;
try {
  browser = await launch();
  await scenarios[scenario](head, browser);
} catch (e) {
  failed = e;
  console.error('--- the head\'s log (last 30 lines) ---\n' + head.log().split('\n').slice(-30).join('\n'));
} finally {
  if (browser) await browser.close();
  await head.stop();
}
if (failed) die(`${scenario}: ${failed.message}\n${failed.stack || ''}`);
step(`${scenario}: passed`);
