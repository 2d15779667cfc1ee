// A recipient's phone gets a warning with its acknowledgement link; the person opens it in
// a browser with scripts disabled and an Arabic locale, reads the warning in Arabic and asks
// for help; the warning officer sees them listed on the warning's page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { logIn, useServerAndBrowser } from './harness.mjs';

const context = useServerAndBrowser();

/** A recipient's webhook: resolves with the acknowledgement link of the first delivery. */
function phone() {
  let deliver;
  const link = new Promise((resolve) => { deliver = resolve; });
  const server = createServer((request, response) => {
    const url = request.headers['tearline-ack-url'];
    if (url) deliver(url);
    request.resume();
    response.writeHead(204).end();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}/hook`, link, server }));
  });
}

async function api(token, method, path, body) {
  const response = await fetch(`${context.server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

test('a recipient answers "I need help" from the link, in Arabic, without scripts', async () => {
  const login = await fetch(`${context.server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'wren', password: 'demo-warning-pass' }),
  });
  const { token } = await login.json();
  const { url, link, server } = await phone();
  // A person far outside the demo town, so that only this warning reaches them.
  const [lat, lon] = [51.5, -0.5];
  await api(token, 'POST', '/api/v1/recipients', [{
    external_id: 'browser-phone', name: 'Browser Phone', kind: 'person', channel: 'webhook', address: url, lat, lon,
  }]);
  const corners = [[-0.01, -0.01], [0.01, -0.01], [0.01, 0.01], [-0.01, 0.01], [-0.01, -0.01]];
  const ring = corners.map(([dy, dx]) => ({ lat: lat + dy, lon: lon + dx }));
  const area = (description) => [{ description, polygons: [ring] }];
  const expires = new Date(Date.now() + 6 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, '-00:00');
  const info = (language, headline, description) => ({
    language, categories: ['Safety'], event: 'Exercise', urgency: 'Immediate', severity: 'Moderate',
    certainty: 'Likely', expires, headline, areas: area(description),
  });
  const draft = await api(token, 'POST', '/api/v1/warnings', {
    status: 'Exercise',
    infos: [info('en-GB', 'Leave the riverside now', 'Riverside'), info('ar', 'غادروا ضفة النهر الآن', 'ضفة النهر')],
  });
  await api(token, 'POST', `/api/v1/warning-versions/${draft.id}/submit`);
  const received = await link;
  server.close();

  const browser = await context.browser.newContext({ javaScriptEnabled: false, locale: 'ar-SY' });
  const page = await browser.newPage();
  await page.goto(received);
  assert.equal(await page.getByTestId('ack-headline').textContent(), 'غادروا ضفة النهر الآن');
  assert.equal(await page.locator('html').getAttribute('dir'), 'rtl');
  await page.getByRole('button', { name: 'أحتاج إلى مساعدة' }).click();
  await page.getByTestId('ack-thanks').waitFor();
  assert.match(await page.getByTestId('ack-thanks').textContent(), /فرق الاستجابة/);
  await browser.close();

  const { page: officer } = await logIn(context.browser, context.server.url, 'wren', 'demo-warning-pass');
  await officer.goto(`${context.server.url}/warnings/versions/${draft.id}`);
  const help = officer.getByTestId('help-requests');
  await help.waitFor();
  assert.match(await help.textContent(), /Browser Phone/);
});
