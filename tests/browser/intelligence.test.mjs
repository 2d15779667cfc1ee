// Intelligence below the tearline, as the officers do it: a handler writes a contact report
// and drafts from it, the leak guard blocks a name, the handler fixes it, the controller
// releases it, and an analyst finds it by search and sees it in the link chart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, logIn, useServerAndBrowser } from './harness.mjs';

const context = useServerAndBrowser();

test('handler drafts, the leak guard blocks a name, controller releases, analyst finds it', async () => {
  const handler = await logIn(context.browser, context.server.url, 'hana', 'demo-handler-pass');
  const page = handler.page;
  await page.getByRole('link', { name: 'Sources' }).first().click();
  await page.getByRole('link', { name: 'NIGHTJAR' }).click();
  await page.getByTestId('intel-link').click();

  await page.locator('summary', { hasText: 'Write a contact report' }).click();
  const contact = page.getByTestId('contact-report-form');
  await contact.getByLabel('Where').fill('Bus station café');
  await contact.getByLabel('Who was present').fill('hana, NIGHTJAR');
  await contact.getByLabel('What the source said').fill('Samira says a blue lorry, CD34 EFG, unloads drums at the tannery yard on Tuesdays.');
  await contact.getByRole('button', { name: 'Save contact report' }).click();
  assert.match(await page.getByTestId('done').innerText(), /Contact report saved/);

  const report = page.locator('[data-testid^="contact-report-"]', { hasText: 'blue lorry' });
  await report.locator('summary', { hasText: 'Draft an intelligence report' }).click();
  const draft = report.locator('[data-testid^="draft-form-"]');
  await draft.getByLabel('Title').fill('Drums at the tannery yard');
  await draft.getByLabel('Releasable text').fill('Samira Haddad-Okafor reports a blue lorry, CD34 EFG, unloading drums at the tannery yard on Tuesdays.');
  await draft.getByRole('button', { name: 'Save draft' }).click();

  const intel = page.locator('[data-testid^="intel-report-"]', { hasText: 'Drums at the tannery yard' });
  await intel.getByRole('button', { name: 'Check and submit for release' }).click();
  assert.match(await page.getByTestId('form-error').innerText(), /body \(name\)/);
  assert.equal(await page.getByTestId('form-error').evaluate((e) => e.closest('[data-testid^="intel-report-"]') !== null), true, 'the refusal is beside its report');
  const blocked = page.locator('[data-testid^="intel-report-"]', { hasText: 'Drums at the tannery yard' });
  assert.equal(await blocked.getByTestId('intel-state').innerText(), 'draft');
  assert.match(await blocked.getByTestId('leak-result').innerText(), /body: name/);
  assert.ok(!(await blocked.getByTestId('leak-result').innerText()).includes('Samira'), 'the verdict names the field, not the value');
  await page.screenshot({ path: join(artifacts, 'leak-guard-blocked.png'), fullPage: true });

  await blocked.getByLabel('Releasable text').fill('A blue lorry, CD34 EFG, unloads drums at the tannery yard on Tuesdays.');
  await blocked.getByRole('button', { name: 'Save changes' }).click();
  const fixed = page.locator('[data-testid^="intel-report-"]', { hasText: 'Drums at the tannery yard' });
  await fixed.getByRole('button', { name: 'Check and submit for release' }).click();
  assert.equal(await page.locator('[data-testid^="intel-report-"]', { hasText: 'Drums at the tannery yard' }).getByTestId('intel-state').innerText(), 'submitted');

  const controller = await logIn(context.browser, context.server.url, 'conrad', 'demo-controller-pass');
  await controller.page.getByTestId('awaiting-release').getByRole('link', { name: /Drums at the tannery yard/ }).click();
  const awaiting = controller.page.locator('[data-testid^="intel-report-"]', { hasText: 'Drums at the tannery yard' });
  await awaiting.getByRole('button', { name: 'Release below the line' }).click();
  // A confirmation says what releasing does and under which reference and grading.
  const confirmation = controller.page.getByTestId('confirmation');
  assert.match(await confirmation.innerText(), /Drums at the tannery yard.*under the reference SR-[0-9A-Z-]+ only/s);
  await confirmation.getByRole('button', { name: /^Release report #\d+$/ }).click();
  assert.match(await controller.page.getByTestId('done').innerText(), /Released below the line/);
  assert.equal(await controller.page.locator('[data-testid^="intel-report-"]', { hasText: 'Drums at the tannery yard' }).getByTestId('intel-state').innerText(), 'released');

  const analyst = await logIn(context.browser, context.server.url, 'anders', 'demo-analyst-pass');
  await analyst.page.getByRole('link', { name: 'Intelligence' }).first().click();
  await analyst.page.getByTestId('search-q').fill('"blue lorry" drums');
  await analyst.page.getByRole('button', { name: 'Search' }).click();
  const results = analyst.page.getByTestId('results');
  assert.match(await results.innerText(), /Drums at the tannery yard/);
  assert.equal(await results.locator('b', { hasText: 'lorry' }).count() > 0, true, 'the match is highlighted');
  await analyst.page.screenshot({ path: join(artifacts, 'intel-search.png'), fullPage: true });
  await results.getByRole('link', { name: /Drums at the tannery yard/ }).click();
  assert.match(await analyst.page.getByTestId('entities').innerText(), /vehicle: CD34 EFG/);
  // An entity opens the search for every report that mentions it.
  const entityHref = await analyst.page.getByTestId('entities').getByRole('link', { name: 'CD34 EFG' }).getAttribute('href');
  assert.equal(new URL(entityHref, context.server.url).searchParams.get('q'), '"CD34 EFG"');
  const body = await analyst.page.content();
  assert.ok(!body.includes('Samira') && !body.includes('NIGHTJAR'), 'no identity or code name below the line');

  await analyst.page.getByRole('link', { name: 'Intelligence' }).first().click();
  await analyst.page.getByRole('link', { name: 'Link chart' }).click();
  const graph = analyst.page.getByTestId('graph');
  await graph.locator('canvas').first().waitFor();
  await analyst.page.waitForFunction(() => Number(document.querySelector('[data-graph]').dataset.ready) > 0);
  const data = JSON.parse(await graph.getAttribute('data-graph'));
  assert.ok(data.nodes.some((n) => n.label === 'CD34 EFG'), 'the new report\'s vehicle is in the chart');
  assert.match(await analyst.page.getByTestId('corroborated').innerText(), /AB12 CDE\s+2/);
  await analyst.page.screenshot({ path: join(artifacts, 'link-chart.png'), fullPage: true });
  // The same graph draws the same picture, and no two labels overlap.
  await analyst.page.reload();
  assert.deepEqual(JSON.parse(await graph.getAttribute('data-graph')), data, 'the same positions on every load');
  for (const [i, a] of data.nodes.entries()) {
    for (const b of data.nodes.slice(i + 1)) {
      const apart = Math.abs(a.x - b.x) >= (a.width + b.width) / 2 || Math.abs(a.y - b.y) >= 60;
      assert.ok(apart, `${a.label} and ${b.label} overlap`);
    }
  }
  // A legend names every kind drawn; corroborated entities and their reports can be opened.
  assert.match(await analyst.page.getByTestId('graph-legend').innerText(), /report[\s\S]*person[\s\S]*vehicle[\s\S]*more than one source/);
  const corroborated = analyst.page.getByTestId('corroborated');
  assert.ok(await corroborated.getByRole('link', { name: 'AB12 CDE' }).getAttribute('href'), 'the entity leads to a search for it');
  assert.ok(await corroborated.getByRole('link', { name: /^#\d+$/ }).count() >= 2, 'each report is a link');
  // Filtered to vehicles, the chart holds reports and vehicles only.
  const filter = analyst.page.getByTestId('graph-filter');
  for (const kind of ['person', 'organisation', 'place', 'phone']) await filter.getByLabel(kind).uncheck();
  await filter.getByRole('button', { name: 'Show' }).click();
  await analyst.page.waitForFunction(() => Number(document.querySelector('[data-graph]').dataset.ready) > 0);
  const vehicles = JSON.parse(await analyst.page.getByTestId('graph').getAttribute('data-graph'));
  assert.deepEqual([...new Set(vehicles.nodes.map((n) => n.kind))].sort(), ['report', 'vehicle']);
  assert.equal(await filter.getByLabel('vehicle').isChecked(), true);
  assert.equal(await filter.getByLabel('person').isChecked(), false);
  for (const who of [handler, controller, analyst]) assert.deepEqual(who.problems.filter((p) => !p.includes('status of 422')), []);
});
