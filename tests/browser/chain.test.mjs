// From a source's report to an evacuated area and back, as the officers work it: the demo's
// threat rests on released reports; the controller withdraws one and the threat and its
// warning go under review; the analyst clears it and records the outcome, which the
// controller reads as the source's track record; a contact that records a change in the
// source's situation asks for a welfare check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, logIn, useServerAndBrowser } from './harness.mjs';

const context = useServerAndBrowser();
const THREAT = 'Device reported near the quay market';

test('a threat rests on released reports, a withdrawal puts it under review, the outcome builds the track record', async () => {
  const { url } = context.server;
  const analyst = await logIn(context.browser, url, 'anders', 'demo-analyst-pass');
  await analyst.page.getByRole('link', { name: 'Threats' }).first().click();
  await analyst.page.getByRole('link', { name: THREAT }).click();
  const supporting = analyst.page.getByTestId('supporting-reports');
  assert.equal(await supporting.locator('tbody tr').count(), 2, 'the demo threat rests on two reports');
  assert.match(await supporting.innerText(), /Night collections at the quay/);
  const timeline = await analyst.page.getByTestId('timeline').innerText();
  assert.match(timeline, /Report \d+ released \(B2, TLP:AMBER\)/);
  assert.match(timeline, /Threat assessed/);
  await analyst.page.screenshot({ path: join(artifacts, 'threat-timeline.png'), fullPage: true });

  const controller = await logIn(context.browser, url, 'conrad', 'demo-controller-pass');
  await controller.page.getByRole('link', { name: 'Sources' }).first().click();
  await controller.page.getByRole('link', { name: 'NIGHTJAR' }).click();
  await controller.page.getByTestId('intel-link').click();
  const night = controller.page.locator('[data-testid^="intel-report-"]', { hasText: 'Night collections at the quay' });
  await night.locator('summary', { hasText: 'Withdraw this report' }).click();
  await night.getByLabel(/Why it no longer stands/).fill('The source could not have seen the quay that night.');
  await night.getByRole('button', { name: 'Withdraw' }).click();
  await controller.page.locator('[data-testid^="withdrawn-"]').first().waitFor();

  const officer = await logIn(context.browser, url, 'wren', 'demo-warning-pass');
  await officer.page.getByRole('link', { name: 'Warnings' }).first().click();
  await officer.page.getByTestId('warnings').getByRole('link', { name: /avoid the quay market/ }).click();
  // The demo's recipients answer as deliveries reach them: the chart appears once they have.
  for (let tries = 0; tries < 40 && (await officer.page.getByTestId('answers-by-area').count()) === 0; tries++) {
    await officer.page.waitForTimeout(500);
    await officer.page.reload();
  }
  const chart = officer.page.getByTestId('answers-by-area');
  assert.match(await chart.locator('figcaption').first().innerText(), /Eastmarsh old town and quay: \d+ received, \d+ safe or left, \d+ need help/);
  assert.equal(await chart.locator('svg[role="img"]').count() > 0, true, 'the chart has an accessible name');
  const support = officer.page.getByTestId('warning-support');
  assert.match(await support.innerText(), /Under review/);
  assert.match(await support.innerText(), /2 released reports: B2 TLP:AMBER, B3 TLP:AMBER\+STRICT/);
  assert.ok(!(await officer.page.content()).includes('SR-'), 'a warning officer never sees a source reference');
  await officer.page.screenshot({ path: join(artifacts, 'warning-under-review.png'), fullPage: true });
  // The warning officer follows the whole chain: reports (graded only), threat, warning, deliveries.
  await support.getByRole('link', { name: THREAT }).click();
  const chain = await officer.page.getByTestId('timeline').innerText();
  for (const step of [/Report \d+ released \(B2, TLP:AMBER\)/, /Threat assessed/, /Alert issued: "EXERCISE: avoid the quay market"/, /Supporting report \d+ withdrawn/]) {
    assert.match(chain, step);
  }
  assert.ok(!(await officer.page.content()).includes('SR-'));
  assert.ok(!(await officer.page.content()).includes('Night collections'), 'nor a report title');

  await analyst.page.goto(`${url}/`);
  await analyst.page.getByTestId('threat-reviews').getByRole('link', { name: THREAT }).click();
  const review = analyst.page.getByTestId('under-review');
  await review.getByLabel('What you concluded').fill('The other report still places the device at the quay.');
  await review.getByRole('button', { name: 'Clear review' }).click();
  assert.match(await analyst.page.getByTestId('notice').innerText(), /review is cleared/);
  assert.equal(await analyst.page.getByTestId('under-review').count(), 0);

  const outcome = analyst.page.getByTestId('outcome-form');
  await outcome.getByLabel('What happened').selectOption('prevented');
  const first = outcome.locator('select[name^="accuracy_"]').first();
  await first.selectOption('accurate');
  await outcome.getByRole('button', { name: 'Record outcome' }).click();
  assert.match(await analyst.page.getByTestId('outcome').innerText(), /Prevented/);
  assert.match(await analyst.page.getByTestId('timeline').innerText(), /Outcome recorded: Prevented/);

  await controller.page.goto(`${url}/sources`);
  await controller.page.getByRole('link', { name: 'NIGHTJAR' }).click();
  await controller.page.getByTestId('lifecycle-link').click();
  assert.match(await controller.page.getByTestId('track-record').innerText(), /1 confirmed/);
  const validate = controller.page.getByTestId('validate-form');
  await validate.getByLabel('Grade').selectOption('B');
  await validate.getByLabel('Why, against the record').fill('Its reports have held up; usually reliable.');
  await validate.getByRole('button', { name: 'Record validation' }).click();
  assert.match(await controller.page.getByTestId('standing').innerText(), /B \(usually reliable\), as last validated/);
  await controller.page.screenshot({ path: join(artifacts, 'source-standing.png'), fullPage: true });
});

test('a contact that records a changed situation asks for a welfare check and a risk review', async () => {
  const { url } = context.server;
  const handler = await logIn(context.browser, url, 'hana', 'demo-handler-pass');
  await handler.page.getByRole('link', { name: 'Sources' }).first().click();
  await handler.page.getByRole('link', { name: 'NIGHTJAR' }).click();
  await handler.page.getByTestId('lifecycle-link').click();
  const form = handler.page.locator('form', { has: handler.page.getByRole('button', { name: 'Log contact' }) });
  await form.getByLabel('Where').fill('Bus station');
  await form.getByLabel('Summary').fill('Her son has been moved to another cell.');
  await form.getByLabel(/situation.*has changed/).check();
  await form.getByRole('button', { name: 'Log contact' }).click();
  const due = await handler.page.getByTestId('due-items').innerText();
  assert.match(due, /Welfare check: the source's situation changed/);
  assert.match(due, /Risk review: the source's situation changed/);
});
