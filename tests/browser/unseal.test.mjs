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
  await page.getByTestId('full-name').waitFor();
  assert.equal(await page.getByTestId('full-name').innerText(), 'Samira Haddad-Okafor');
  assert.match(await page.getByTestId('identity').innerText(), /\+44 7700 900461/);
  await page.screenshot({ path: join(artifacts, 'handler-unsealed.png'), fullPage: true });
  assert.deepEqual(problems, [], 'no console errors or CSP violations');
});

test('an unseal without a reason is refused on the page', async () => {
  const { page } = await logIn(context.browser, context.server.url, 'hana', 'demo-handler-pass');
  await page.goto(`${context.server.url}/sources/1`);
  await page.getByLabel('Reason').fill('short');
  await page.evaluate(() => document.querySelector('textarea[name=reason]').removeAttribute('minlength'));
  await page.getByRole('button', { name: 'Unseal identity' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /10 to 500 characters/);
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
