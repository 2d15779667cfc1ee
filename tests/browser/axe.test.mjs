// axe-core on every page of every role: each demo account's pages are found by following the
// links the UI offers from its home page (one page per path shape: /sources/1 and /sources/2
// are one template), and each fails the test on any serious or critical violation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { useServerAndBrowser, logIn } from './harness.mjs';

const context = useServerAndBrowser();
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const ACCOUNTS = [
  ['hana', 'demo-handler-pass'],
  ['conrad', 'demo-controller-pass'],
  ['aurelia', 'demo-authorising-pass'],
  ['anders', 'demo-analyst-pass'],
  ['wren', 'demo-warning-pass'],
  ['ines', 'demo-inspector-pass'],
  ['adam', 'demo-admin-pass-1'],
];

/** The same template under another id: digits stand for any id. */
const shape = (path) => path.replace(/\d+/g, 'N');

/** Paths the crawler never opens: documents that are not pages, and logging out. */
const notAPage = (path) => /^\/(assets|cap|api|logout)\b|\.(xml|json|csv|atom|geojson|txt)(\?|$)/.test(path);

/** Runs axe on the open page (through the debugger, so the page's CSP is not loosened). */
async function violations(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

for (const [username, password] of ACCOUNTS) {
  test(`axe finds no serious or critical violation on any page ${username} can reach`, async () => {
    const { page, problems } = await logIn(context.browser, context.server.url, username, password);
    const origin = new URL(context.server.url).origin;
    const queue = ['/'];
    const seen = new Set([shape('/')]);
    const failures = [];
    let checked = 0;
    while (queue.length > 0) {
      const path = queue.shift();
      const response = await page.goto(`${origin}${path}`);
      if (response && response.status() >= 400) failures.push(`${path}: a link the UI offers answers ${response.status()}`);
      if (!(response?.headers()['content-type'] ?? '').startsWith('text/html')) continue;
      checked += 1;
      for (const v of await violations(page)) {
        const where = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ');
        failures.push(`${path}: ${v.id} (${v.impact}) ${v.help} at ${where}`);
      }
      const links = await page.$$eval('a[href]:not([download])', (as) => as.map((a) => a.href));
      for (const href of links) {
        const url = new URL(href);
        if (url.origin !== origin) continue;
        const next = url.pathname + url.search;
        if (notAPage(url.pathname) || seen.has(shape(url.pathname))) continue;
        seen.add(shape(url.pathname));
        queue.push(next);
      }
    }
    assert.ok(checked >= 2, `${username}: the crawl reached ${checked} pages`);
    assert.deepEqual(failures, [], `${username}: axe violations`);
    assert.deepEqual(problems, [], `${username}: no console errors or CSP violations`);
  });
}

test('axe finds no serious or critical violation on a confirmation or a refused form', async () => {
  const failures = [];
  const check = async (page, what) => {
    for (const v of await violations(page)) failures.push(`${what}: ${v.id} (${v.impact}) ${v.help}`);
  };
  const aurelia = await logIn(context.browser, context.server.url, 'aurelia', 'demo-authorising-pass');
  await aurelia.page.goto(`${context.server.url}/sources/1/lifecycle`);
  await aurelia.page.getByTestId('renew').click();
  await aurelia.page.getByTestId('confirmation').waitFor();
  await check(aurelia.page, 'the renewal confirmation');
  const hana = await logIn(context.browser, context.server.url, 'hana', 'demo-handler-pass');
  await hana.page.goto(`${context.server.url}/sources/1/lifecycle`);
  const form = hana.page.getByTestId('payment-form');
  await form.getByLabel('Amount').fill('12.00');
  await form.getByLabel('Purpose').fill('Phone credit');
  await form.getByRole('button', { name: 'Request payment' }).click();
  await hana.page.getByTestId('form-error').waitFor();
  await check(hana.page, 'a refused payment request');
  await hana.page.goto(`${context.server.url}/sources/1`);
  await hana.page.getByLabel('Reason').fill('Checking the confirmation page with axe');
  await hana.page.getByRole('button', { name: 'Unseal identity' }).click();
  await hana.page.getByTestId('confirmation').waitFor();
  await check(hana.page, 'the unsealing confirmation');
  assert.deepEqual(failures, []);
});
