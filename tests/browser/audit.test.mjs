// An inspector sees the audit log's latest signed checkpoint and its verification status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useServerAndBrowser, logIn, artifacts } from './harness.mjs';

const context = useServerAndBrowser();

test('an inspector sees a verified checkpoint and the unseal that was logged', async () => {
  const handler = await logIn(context.browser, context.server.url, 'hana', 'demo-handler-pass');
  await handler.page.goto(`${context.server.url}/sources/1`);
  await handler.page.getByLabel('Reason').fill('Checking the audit log shows this');
  await handler.page.getByRole('button', { name: 'Unseal identity' }).click();
  await handler.page.getByTestId('full-name').waitFor();

  const { page, problems } = await logIn(context.browser, context.server.url, 'ines', 'demo-inspector-pass');
  await page.getByRole('link', { name: 'Audit log' }).first().click();
  assert.match(await page.getByTestId('checkpoint-status').innerText(), /^✔ signature valid; the root matches the \d+ stored entries/);
  const checkpoint = await page.getByTestId('checkpoint').innerText();
  const key = await page.getByTestId('verifier-key').innerText();
  assert.ok(checkpoint.startsWith(key.split('+')[0]), 'the checkpoint is signed under the shown key');
  const table = await page.locator('table').innerText();
  assert.match(table, /source\.unseal\s+source:1\s+Checking the audit log shows this/);
  assert.ok(!(await page.content()).includes('Samira'), 'the audit log shows no identity');
  await page.screenshot({ path: join(artifacts, 'inspector-audit-log.png'), fullPage: true });
  assert.deepEqual(problems, []);
});
