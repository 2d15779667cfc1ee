// Keyboard and screen-reader basics on every role's pages: a skip link is the first thing
// Tab reaches and takes focus to the content; maps have a name; refusals are announced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, logIn } from './harness.mjs';

const context = useServerAndBrowser();

const PAGES = [
  ['hana', 'demo-handler-pass', ['/', '/sources', '/sources/1', '/sources/1/lifecycle']],
  ['anders', 'demo-analyst-pass', ['/', '/intel', '/threats']],
  ['wren', 'demo-warning-pass', ['/', '/warnings', '/recipients']],
  ['ines', 'demo-inspector-pass', ['/', '/audit', '/register']],
];

test('on every page the first Tab reaches "Skip to the content", which moves focus to it', async () => {
  for (const [username, password, paths] of PAGES) {
    const { page, problems } = await logIn(context.browser, context.server.url, username, password);
    for (const path of paths) {
      await page.goto(`${context.server.url}${path}`);
      await page.keyboard.press('Tab');
      const first = await page.evaluate(() => document.activeElement?.textContent?.trim());
      assert.equal(first, 'Skip to the content', `${username} ${path}`);
      await page.keyboard.press('Enter');
      const focused = await page.evaluate(() => document.activeElement?.id);
      assert.equal(focused, 'main', `${username} ${path}: focus moves to the content`);
      for (const map of await page.locator('[data-map]').all()) {
        const name = await map.getAttribute('aria-label');
        assert.ok(name && name.length > 5, `${username} ${path}: a map has an accessible name`);
      }
    }
    assert.deepEqual(problems, [], `${username}: no console errors or CSP violations`);
  }
});

test('a page that refuses says so to screen readers', async () => {
  const { page } = await logIn(context.browser, context.server.url, 'anders', 'demo-analyst-pass');
  await page.goto(`${context.server.url}/sources/1`);
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /no such|not found/i);
});
