// A handler unseals a source's identity with a reason; an analyst finds no way to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useServerAndBrowser, logIn, artifacts } from './harness.mjs';

const IDENTITY = ['Samira Haddad-Okafor', '+44 7700 900461', '14 Tannery Lane', 'Umm Yusuf',
  'Dmitri Valentin Oyelaran', 'Wen Castellanos-Pike', 'Tariq Benhadda Lindqvist'];

const context = useServerAndBrowser();

test('a handler opens a source, unseals it with a reason and sees the identity', async () => {
  const { page, problems } = await logIn(context.browser, context.server.url, 'hana', 'demo-handler-pass');
  assert.match(await page.getByTestId('whoami').innerText(), /hana · Handler/);
  await page.getByRole('link', { name: 'Sources' }).first().click();
  await page.getByRole('link', { name: 'NIGHTJAR' }).click();
  assert.equal(await page.getByTestId('code-name').innerText(), 'NIGHTJAR');
  assert.ok(!(await page.content()).includes('Samira'), 'the record page shows no identity before unsealing');
  await page.getByLabel('Reason').fill('Confirming the address before tomorrow\'s meeting');
  await page.getByRole('button', { name: 'Unseal identity' }).click();
  // A confirmation says what is recorded and for how long the identity shows; nothing is
  // opened or recorded until it is confirmed.
  const confirmation = page.getByTestId('confirmation');
  assert.match(await confirmation.innerText(), /recorded in the audit log, with your name and your reason: .Confirming the address before tomorrow's meeting./);
  assert.ok(!(await page.content()).includes('Samira'));
  await confirmation.getByRole('button', { name: 'Open the identity' }).click();
  await page.getByTestId('full-name').waitFor();
  assert.equal(await page.getByTestId('full-name').innerText(), 'Samira Haddad-Okafor');
  assert.match(await page.getByTestId('identity').innerText(), /\+44 7700 900461/);
  assert.match(page.url(), /\/sources\/1\/identity\?opening=[A-Za-z0-9_-]+$/, 'the identity is a page of its own, reached by GET');
  await page.screenshot({ path: join(artifacts, 'handler-unsealed.png'), fullPage: true });
  // Reloading it sends no form and records no second unsealing: a showing is recorded.
  await page.reload();
  assert.equal(await page.getByTestId('full-name').innerText(), 'Samira Haddad-Okafor');
  // A ticket altered, or taken to another source, opens nothing.
  const ticket = new URL(page.url()).searchParams.get('opening');
  const altered = `${ticket.slice(0, -3)}${ticket.slice(-3) === 'AAA' ? 'BBB' : 'AAA'}`;
  for (const path of [`/sources/1/identity?opening=${altered}`, `/sources/2/identity?opening=${ticket}`]) {
    const response = await page.goto(`${context.server.url}${path}`);
    assert.equal(response.status(), 410, path);
    assert.match(await page.getByRole('alert').innerText(), /opening of the identity has ended; unseal it again/);
    assert.ok(!(await page.content()).includes('Samira'), path);
  }
  const ines = await logIn(context.browser, context.server.url, 'ines', 'demo-inspector-pass');
  await ines.page.goto(`${context.server.url}/audit?actor=hana&event=source.unseal`);
  const events = await ines.page.getByTestId('audit-events').innerText();
  assert.equal(events.match(/source\.unseal\s/g).length, 1, 'one unsealing, with its reason');
  assert.equal(events.match(/source\.unseal\.view/g).length, 2, 'each showing recorded');
  // The two refused tickets answered 410; Chromium logs those, nothing else.
  assert.deepEqual(problems, Array(2).fill('Failed to load resource: the server responded with a status of 410 (Gone)'), 'no console errors or CSP violations');
});

test('an unseal without a reason is refused on the page', async () => {
  const { page } = await logIn(context.browser, context.server.url, 'hana', 'demo-handler-pass');
  await page.goto(`${context.server.url}/sources/1`);
  await page.getByLabel('Reason').fill('short');
  await page.evaluate(() => document.querySelector('textarea[name=reason]').removeAttribute('minlength'));
  await page.getByRole('button', { name: 'Unseal identity' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /10 to 500 characters/);
  assert.equal(await page.getByLabel('Reason').inputValue(), 'short', 'what was typed is kept');
  assert.equal(await page.getByLabel('Reason').getAttribute('aria-invalid'), 'true', 'and marked as what is wrong');
  assert.ok(!(await page.content()).includes('Samira'));
});

test('an analyst finds no way to a source or its identity', async () => {
  const { page, problems } = await logIn(context.browser, context.server.url, 'anders', 'demo-analyst-pass');
  assert.match(await page.getByTestId('whoami').innerText(), /anders · Analyst/);
  assert.equal(await page.getByRole('link', { name: 'Sources' }).count(), 0, 'no Sources link');
  const pages = ['/', '/sources', '/sources/1', '/sources/2', '/users', '/audit'];
  for (const path of pages) {
    const response = await page.goto(`${context.server.url}${path}`);
    const html = await page.content();
    for (const value of IDENTITY) assert.ok(!html.includes(value), `${path} shows ${value}`);
    if (path !== '/') assert.ok([403, 404].includes(response.status()), `${path} answered ${response.status()}`);
  }
  // The API with the analyst's own session cookie (and its CSRF token, so only the policy
  // stands in the way).
  const me = await (await page.context().request.get(`${context.server.url}/api/v1/me`)).json();
  for (const id of [1, 2, 3, 4]) {
    const reply = await page.context().request.post(`${context.server.url}/api/v1/sources/${id}/unseal`, {
      headers: { 'x-csrf-token': me.csrf_token },
      data: { reason: 'an analyst trying the API' },
    });
    const [status, body] = [reply.status(), await reply.text()];
    assert.ok([403, 404].includes(status), `unseal answered ${status}`);
    for (const value of IDENTITY) assert.ok(!body.includes(value));
  }
  await page.screenshot({ path: join(artifacts, 'analyst-home.png'), fullPage: true });
  assert.deepEqual(problems.filter((p) => !p.includes('403') && !p.includes('404')), []);
});
