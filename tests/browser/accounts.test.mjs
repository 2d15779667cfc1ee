// Two people deep, in the console: the administrator adds an analyst and asks to make them a
// controller; the page says the change waits, the account works as before, and the unit's
// senior controller sees it on their home page and approves it. Disabling ends the account's
// session at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, logIn, useServerAndBrowser } from './harness.mjs';

const context = useServerAndBrowser();

test('an account change that reaches identities waits for a senior controller, and disabling ends its session', async () => {
  const adam = await logIn(context.browser, context.server.url, 'adam', 'demo-admin-pass-1');
  await adam.page.goto(`${context.server.url}/users`);
  const add = adam.page.getByTestId('user-form');
  await add.getByLabel('Username').fill('ursula');
  await add.getByLabel('Role').selectOption('analyst');
  await add.getByLabel('Unit').fill('Harbour District Unit');
  await add.getByLabel('Initial password (12+ characters)').fill('ursula-password-long');
  await add.getByRole('button', { name: 'Add user' }).click();
  await adam.page.getByTestId('done').waitFor();

  const ursula = await logIn(context.browser, context.server.url, 'ursula', 'ursula-password-long');
  assert.match(await ursula.page.getByTestId('whoami').innerText(), /Analyst/);

  const change = adam.page.getByTestId('change-user-form');
  await change.getByLabel('Account').selectOption({ label: 'ursula' });
  await change.getByLabel('Role').selectOption('controller');
  await change.getByLabel('Seniority').selectOption('standard');
  await change.getByLabel('Unit').fill('Harbour District Unit');
  await change.getByRole('button', { name: 'Change the account' }).click();
  assert.match(await adam.page.getByTestId('done').innerText(), /takes effect when a senior controller/);
  assert.match(await adam.page.locator('tr', { hasText: 'ursula' }).innerText(), /a change to Controller \(standard\) in Harbour District Unit awaits/);
  await adam.page.screenshot({ path: join(artifacts, 'account-change-requested.png'), fullPage: true });

  await ursula.page.reload();
  assert.match(await ursula.page.getByTestId('whoami').innerText(), /Analyst/, 'works as before meanwhile');

  const conrad = await logIn(context.browser, context.server.url, 'conrad', 'demo-controller-pass');
  const waiting = conrad.page.getByTestId('account-changes-awaiting-approval');
  assert.match(await waiting.innerText(), /ursula: from Analyst \(standard\) in Harbour District Unit to Controller \(standard\)/);
  await waiting.getByRole('button', { name: 'Approve the change of ursula' }).click();
  assert.match(await conrad.page.getByTestId('done').innerText(), /Change approved/);

  await ursula.page.reload();
  assert.match(await ursula.page.getByTestId('whoami').innerText(), /Controller/, 'her open session has the new role');

  await adam.page.goto(`${context.server.url}/users`);
  const status = adam.page.getByTestId('user-status-form');
  await status.getByLabel('Account').selectOption({ label: 'ursula' });
  await status.getByRole('button', { name: 'Disable' }).click();
  assert.match(await adam.page.getByTestId('done').innerText(), /Account disabled/);
  await ursula.page.reload();
  assert.match(new URL(ursula.page.url()).pathname, /^\/login/, 'her session has ended');
  assert.deepEqual(adam.problems, []);
});
