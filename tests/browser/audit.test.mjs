// An inspector sees the audit log's latest signed checkpoint and its verification status,
// downloads it, and searches and pages through the events, named and linked.
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
  await handler.page.getByTestId('confirmation').getByRole('button', { name: 'Open the identity' }).click();
  await handler.page.getByTestId('full-name').waitFor();

  const { page, problems } = await logIn(context.browser, context.server.url, 'ines', 'demo-inspector-pass');
  await page.getByRole('link', { name: 'Audit log' }).first().click();
  assert.match(await page.getByTestId('checkpoint-status').innerText(), /^✔ signature valid; the root matches the \d+ stored entries/);
  await page.screenshot({ path: join(artifacts, 'inspector-audit-log.png'), fullPage: true });
  const checkpoint = await page.getByTestId('checkpoint').innerText();
  const key = await page.getByTestId('verifier-key').innerText();
  assert.ok(checkpoint.startsWith(key.split('+')[0]), 'the checkpoint is signed under the shown key');
  // Downloading the checkpoint gives the same signed note, to keep.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('checkpoint-download').click()]);
  const kept = await (await import('node:fs/promises')).readFile(await download.path(), 'utf8');
  assert.equal(kept.trim(), checkpoint.trim());
  assert.match(download.suggestedFilename(), /^tearline-checkpoint-\d+\.txt$/);

  // Events name people and sources, link what the reader may open, and page over the log.
  const events = page.getByTestId('audit-events');
  assert.match(await events.innerText(), /hana\s+source\.unseal\s+source NIGHTJAR\s+Checking the audit log shows this/);
  assert.ok(!(await events.innerText()).match(/user:\d/), 'actors are named');
  assert.equal(await events.locator('tbody tr').count(), 50, 'a page holds 50 events');
  const newest = Number(await events.locator('tbody tr td').first().innerText());
  await page.getByTestId('older').click();
  const older = Number(await page.getByTestId('audit-events').locator('tbody tr td').first().innerText());
  assert.ok(older < newest - 49, `the older page starts before the first (${older} < ${newest})`);
  assert.match(page.url(), /before=\d+/);

  // Filtered by actor and action, only the unseal is left; its object opens the source.
  const filter = page.getByTestId('audit-filter');
  await filter.getByLabel('Actor (username)').fill('hana');
  await filter.getByLabel('Action, or its start').fill('source.unseal');
  await filter.getByRole('button', { name: 'Search the log' }).click();
  const found = page.getByTestId('audit-events').locator('tbody tr', { hasText: 'Checking the audit log shows this' });
  assert.equal(await found.count(), 1);
  assert.match(await page.getByTestId('audit-events').innerText(), /source\.unseal\.view/, 'the showing that followed is there too');
  assert.doesNotMatch(page.url(), /before=/, 'a new search starts at the newest entry');
  await found.getByRole('link', { name: 'source NIGHTJAR' }).click();
  await page.getByTestId('code-name').filter({ hasText: 'NIGHTJAR' }).waitFor();
  await page.goBack();
  // A date written wrongly is refused in words, on the page.
  await page.getByTestId('audit-filter').getByLabel('From (YYYY-MM-DD)').evaluate((input) => { input.removeAttribute('pattern'); input.value = '05/12/2026'; });
  await page.getByTestId('audit-filter').getByRole('button', { name: 'Search the log' }).click();
  assert.match(await page.getByTestId('form-error').innerText(), /From must be written YYYY-MM-DD/);
  assert.ok(!(await page.content()).includes('Samira'), 'the audit log shows no identity');
  // The refused date answered 400 on purpose; Chromium logs that, nothing else.
  assert.deepEqual(problems, ['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
});
