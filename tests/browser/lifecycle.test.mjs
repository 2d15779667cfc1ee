// The payments flow and a renewal, as the officers do them: a handler requests a payment
// (a refused request comes back with what was typed), the controller confirms the approval,
// the handler records it handed over before a witness, and the ledger and the disclosure
// export show it; the authorising officer sees an authorisation due on the home page and
// renews it after a confirmation that says where the expiry moves, once however often the
// page is reloaded or the confirmation sent again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, logIn, useServerAndBrowser } from './harness.mjs';

const context = useServerAndBrowser();

async function openLifecycle(page, codeName) {
  await page.getByRole('link', { name: 'Sources' }).first().click();
  await page.getByRole('link', { name: codeName }).click();
  await page.getByTestId('lifecycle-link').click();
  await page.getByTestId('code-name').filter({ hasText: 'lifecycle' }).waitFor();
}

test('handler requests a payment, controller approves, ledger and disclosure show it', async () => {
  const handler = await logIn(context.browser, context.server.url, 'hana', 'demo-handler-pass');
  await openLifecycle(handler.page, 'NIGHTJAR');
  const form = handler.page.getByTestId('payment-form');
  await form.getByLabel('Amount').fill('75.50');
  await form.getByLabel('Purpose').fill('Travel to the Saltford meeting');
  // Without the attestation the request is refused inside its form, announced, with what
  // was typed kept, and nothing is stored.
  await form.getByRole('button', { name: 'Request payment' }).click();
  const again = handler.page.getByTestId('payment-form');
  assert.match(await again.getByRole('alert').innerText(), /not contingent/);
  assert.equal(await again.getByLabel('Amount').inputValue(), '75.50');
  assert.equal(await again.getByLabel('Purpose').inputValue(), 'Travel to the Saltford meeting');
  assert.equal(await again.getByLabel('Currency').inputValue(), 'GBP');
  // The refusal is tied to the field it is about, for screen readers.
  const attestation = again.getByLabel('I attest that this payment is not contingent on any outcome');
  assert.equal(await attestation.getAttribute('aria-invalid'), 'true');
  assert.equal(await attestation.getAttribute('aria-describedby'), await again.getByRole('alert').getAttribute('id'));
  assert.equal(await again.getByLabel('Amount').getAttribute('aria-invalid'), null, 'only the field it is about');
  await again.getByLabel('I attest that this payment is not contingent on any outcome').check();
  await again.getByRole('button', { name: 'Request payment' }).click();
  assert.match(await handler.page.getByTestId('done').innerText(), /waits for a controller's approval/);
  const row = handler.page.locator('[data-testid^="payment-"]', { hasText: '75.50 GBP' });
  assert.equal(await row.getByTestId('payment-state').innerText(), 'requested');
  const id = (await row.getAttribute('data-testid')).replace('payment-', '');

  const controller = await logIn(context.browser, context.server.url, 'conrad', 'demo-controller-pass');
  await openLifecycle(controller.page, 'NIGHTJAR');
  await controller.page.getByRole('button', { name: `Approve PAY-${id}` }).click();
  // A confirmation says what is approved before anything changes.
  const confirmation = controller.page.getByTestId('confirmation');
  assert.match(await confirmation.innerText(), /75\.50 GBP to NIGHTJAR for: Travel to the Saltford meeting/);
  await confirmation.getByRole('button', { name: `Approve PAY-${id}` }).click();
  assert.match(await controller.page.getByTestId('done').innerText(), /Payment approved/);
  assert.equal(await controller.page.getByTestId(`payment-${id}`).getByTestId('payment-state').innerText(), 'approved');
  assert.match(await controller.page.getByTestId('ledger').innerText(), /payment approved\s+source-expense 75\.50 GBP · owed-to-source -75\.50 GBP/);

  await handler.page.reload();
  await handler.page.getByLabel('Witness').selectOption('conrad');
  await handler.page.getByTestId('record-paid').click();
  assert.equal(await handler.page.getByTestId(`payment-${id}`).getByTestId('payment-state').innerText(), 'paid');
  assert.match(await handler.page.getByTestId(`payment-${id}`).innerText(), /witnessed by conrad/);

  await controller.page.reload();
  await controller.page.getByTestId('disclosure-link').click();
  assert.equal((await controller.page.getByTestId('total-paid').innerText()).trim(), '225.50 GBP');
  assert.match(await controller.page.getByTestId('disclosure-payments').innerText(), /PAY-\d+.*75\.50 GBP.*Travel to the Saltford meeting\s+paid/s);
  await controller.page.screenshot({ path: join(artifacts, 'disclosure.png'), fullPage: true });
  const csvUrl = await controller.page.getByTestId('disclosure-csv').getAttribute('href');
  const csv = await controller.page.request.get(`${context.server.url}${csvUrl}`);
  assert.equal(csv.status(), 200);
  assert.match(csv.headers()['content-type'], /^text\/csv/);
  assert.match(await csv.text(), new RegExp(`PAY-${id},NIGHTJAR,SR-[0-9A-Z-]+,.*75\\.50 GBP,Travel to the Saltford meeting,paid,`));
  // The refused request above is answered 400 on purpose; Chromium logs that, nothing else.
  assert.deepEqual(handler.problems, ['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  assert.deepEqual(controller.problems, []);
});

test('an authorising officer renews an authorisation that was due', async () => {
  const { page, problems } = await logIn(context.browser, context.server.url, 'aurelia', 'demo-authorising-pass');
  const due = page.getByTestId('due-items');
  const item = due.locator('tr', { hasText: 'NIGHTJAR' }).filter({ hasText: 'Authorisation expires within 30 days' });
  await item.getByRole('link', { name: 'NIGHTJAR' }).click();
  const expiry = () => page.locator('[data-testid^="authorisation-"]').first().getByTestId('authorisation-expires').innerText();
  const before = await expiry();
  await page.getByTestId('renew').click();
  // The confirmation names the expiry now and after, and asks for the register's note.
  const confirmation = page.getByTestId('confirmation');
  assert.match(await confirmation.innerText(), new RegExp(`expires ${before} now; renewed, it expires ${Number(before.slice(0, 4)) + 1}`));
  await confirmation.getByLabel(/Note for the register/).fill('Still necessary: the quay reporting continues');
  await page.screenshot({ path: join(artifacts, 'lifecycle-confirm-renewal.png'), fullPage: true });
  const confirmed = await confirmation.locator('form').evaluate((form) => ({
    action: form.action, body: new URLSearchParams(new FormData(form)).toString(),
  }));
  await confirmation.getByRole('button', { name: /^Renew AUTH-/ }).click();
  assert.match(await page.getByTestId('done').innerText(), /Authorisation renewed/);
  assert.match(page.url(), /\?done=renew#authorisations$/);
  const after = await expiry();
  assert.equal(Number(after.slice(0, 4)), Number(before.slice(0, 4)) + 1, `${before} -> ${after}`);
  assert.equal(after.slice(4), before.slice(4), 'renewed from the old expiry, to the day');
  // Reloading the page it landed on sends nothing again.
  await page.reload();
  assert.equal(await expiry(), after, 'a reload renews nothing');
  // The same confirmation sent a second time (a double click, a resubmission) is refused.
  const twice = await page.request.post(confirmed.action, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, data: confirmed.body, maxRedirects: 0,
  });
  assert.equal(twice.status(), 409);
  assert.match(await twice.text(), /renewed since you looked at it/);
  await page.reload();
  assert.equal(await expiry(), after, 'a second confirmation renews nothing');
  await page.screenshot({ path: join(artifacts, 'lifecycle-renewed.png'), fullPage: true });
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Home' }).click();
  assert.equal(await page.getByTestId('due-items').locator('tr', { hasText: 'NIGHTJAR' }).filter({ hasText: 'expires' }).count(), 0);
  await page.getByRole('link', { name: 'Register' }).first().click();
  assert.match(await page.getByTestId('register').innerText(), /renewed.*Still necessary: the quay reporting continues/);
  assert.deepEqual(problems, []);
});
