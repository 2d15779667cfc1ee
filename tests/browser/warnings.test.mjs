// A warning officer draws an area on the map, issues a warning and watches the delivery
// count rise; an analyst sees threat assessments on the map. No script error, no CSP
// violation, no network beyond the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, logIn, useServerAndBrowser } from './harness.mjs';

const context = useServerAndBrowser();

test('a warning officer draws an area, issues a warning and sees deliveries rise', async () => {
  const { page, problems } = await logIn(context.browser, context.server.url, 'wren', 'demo-warning-pass');
  const foreign = [];
  page.on('request', (request) => { if (!request.url().startsWith(context.server.url)) foreign.push(request.url()); });
  await page.getByRole('link', { name: 'Warnings' }).first().click();
  // The overview map shows the demo's issued warning over the offline country outlines.
  await page.locator('.map .leaflet-interactive').first().waitFor();

  const form = page.getByTestId('draft-form');
  await form.getByTestId('headline').fill('Leave the harbour front now');
  await form.getByLabel('Area description').fill('Harbour front');
  const map = form.locator('[data-map]');
  await map.scrollIntoViewIfNeeded();
  await page.waitForTimeout(300);
  const box = await map.boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  for (const [dx, dy] of [[-140, -100], [140, -100], [140, 100], [-140, 100]]) {
    await page.mouse.click(cx + dx, cy + dy);
  }
  await form.getByRole('button', { name: 'Close area' }).click();
  const polygon = await form.getByTestId('polygon').inputValue();
  assert.match(polygon, /^-?\d+\.\d+,-?\d+\.\d+( -?\d+\.\d+,-?\d+\.\d+){4}$/, polygon);
  const preview = form.getByTestId('preview-count');
  await preview.filter({ hasText: 'registered recipients inside' }).waitFor();
  const inside = Number((await preview.textContent()).match(/\d+/)[0]);
  assert.ok(inside > 0, `the drawn area holds recipients: ${await preview.textContent()}`);

  // A mistake sends the form back with everything typed and drawn, the refusal beside it in
  // the form's own words.
  await form.getByLabel('Description', { exact: true }).fill('Move inland along Station Road.');
  await form.getByLabel('Expires in (hours)').fill('soon');
  await form.getByRole('button', { name: 'Save draft' }).click();
  const refused = page.getByTestId('draft-form');
  assert.match(await refused.getByRole('alert').innerText(), /^Expires in/i);
  assert.equal(await refused.getByLabel('Expires in (hours)').getAttribute('aria-invalid'), 'true');
  assert.equal(await refused.getByLabel('Expires in (hours)').getAttribute('aria-describedby'), 'refusal');
  assert.equal(await refused.getByTestId('headline').inputValue(), 'Leave the harbour front now');
  assert.equal(await refused.locator('textarea[name=description]').inputValue(), 'Move inland along Station Road.');
  assert.equal(await refused.getByLabel('Area description').inputValue(), 'Harbour front');
  assert.equal(await refused.getByTestId('polygon').inputValue(), polygon, 'the drawn area is kept');
  await refused.getByLabel('Expires in (hours)').fill('6');
  await refused.getByRole('button', { name: 'Save draft' }).click();
  await page.getByTestId('version-state').filter({ hasText: 'draft' }).waitFor();
  assert.match(await page.getByTestId('notice').innerText(), /Draft saved/);
  assert.match(await page.getByTestId('cap-xml').textContent(), /<msgType>Alert<\/msgType>/);
  // Issuing asks first, saying whom it reaches.
  await page.getByTestId('issue').click();
  const confirmation = page.getByTestId('confirmation');
  const reach = Number((await confirmation.innerText()).match(/sends to (\d+) recipients? registered in Harbour front/)[1]);
  assert.equal(reach, inside, 'the confirmation counts the recipients the map counted');
  await confirmation.getByRole('button', { name: `Issue and send to ${reach} recipients` }).click();
  await page.getByTestId('notice').filter({ hasText: 'Issued' }).waitFor();
  const queued = Number(await page.getByTestId('delivery-total').innerText());
  assert.equal(queued, inside, 'every recipient inside the drawn area gets a delivery');
  // Reloading the page issuing landed on sends nothing again and refuses nothing.
  await page.reload();
  assert.equal(await page.getByTestId('version-state').innerText(), 'issued');
  assert.equal(await page.getByRole('alert').count(), 0);

  // The count of delivered warnings rises to everyone as the dispatcher works.
  const delivered = page.getByTestId('delivered-count');
  const readings = [];
  for (let i = 0; i < 100; i += 1) {
    const value = Number(await delivered.textContent());
    if (!Number.isNaN(value)) readings.push(value);
    if (value === queued) break;
    await page.waitForTimeout(200);
  }
  assert.equal(readings.at(-1), queued, `all delivered: ${readings.join(', ')}`);
  // On the map, recipients are drawn in the colour of their delivery's state, as the legend
  // beside it says; the area opens a popup with its name and description.
  await page.reload();
  await page.waitForFunction(() => Number(document.querySelector('[data-map]').dataset.recipientsDrawn) > 0);
  const drawn = JSON.parse(await page.locator('[data-map]').first().getAttribute('data-recipients'));
  const reached = ['delivered', 'acknowledged', 'safe', 'help'];
  assert.ok(drawn.length > 0 && drawn.every(([, , state]) => reached.includes(state)), 'every recipient drawn as reached');
  assert.match(await page.getByTestId('map-legend').innerText(), /delivered[\s\S]*safe or left[\s\S]*needs help/);
  await page.evaluate(() => { document.querySelector('[data-map]').leaflet.eachLayer((layer) => { if (layer instanceof L.Polygon) layer.openPopup(); }); });
  assert.match(await page.locator('.leaflet-popup-content').innerText(), /Harbour front/);
  await page.screenshot({ path: join(artifacts, 'warning-issued.png'), fullPage: true });

  // Update it: the update form opens with the issued area; drag a corner to widen it.
  const update = page.locator('form[action$="/update"]');
  const field = update.getByTestId('polygon');
  const before = await field.inputValue();
  assert.equal(before, polygon, 'the update starts from the issued area');
  const corners = update.locator('.vertex');
  assert.equal(await corners.count(), 4, 'each corner has a handle');
  await corners.first().scrollIntoViewIfNeeded();
  const corner = await corners.first().boundingBox();
  await page.mouse.move(corner.x + 6, corner.y + 6);
  await page.mouse.down();
  await page.mouse.move(corner.x - 60, corner.y - 40, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction((old) => document.querySelector('form[action$="/update"] [data-testid="polygon"]').value !== old, before);
  await update.getByLabel('Headline').fill('The harbour warning now covers the fish market');
  await update.getByRole('button', { name: 'Save update draft' }).click();
  await page.getByTestId('version-state').filter({ hasText: 'draft' }).waitFor();
  await page.getByTestId('issue').click();
  await page.getByTestId('confirmation').getByRole('button', { name: /^Issue and send to/ }).click();
  await page.getByTestId('notice').filter({ hasText: 'Issued' }).waitFor();
  const xml = await page.getByTestId('cap-xml').textContent();
  assert.match(xml, /<msgType>Update<\/msgType>/);
  assert.match(xml, /<references>[^<]+,tearline-[0-9a-f]+,[^<]+<\/references>/);
  assert.deepEqual(foreign, [], 'nothing loads from outside the server');
  // The refused draft answered 400 on purpose; Chromium logs that, nothing else.
  assert.deepEqual(problems, ['Failed to load resource: the server responded with a status of 400 (Bad Request)'], 'no script errors or blocked resources');
});

test('an analyst sees threat assessments on the map', async () => {
  const { page, problems } = await logIn(context.browser, context.server.url, 'anders', 'demo-analyst-pass');
  await page.goto(`${context.server.url}/threats`);
  await page.getByTestId('threats').getByText('Device reported near the quay market').waitFor();
  await page.locator('.map .leaflet-interactive').first().waitFor();
  await page.waitForFunction(() => document.querySelectorAll('.map path').length > 2);
  // The demo town's own roads and places lie over the basemap, named when close enough.
  await page.waitForFunction(() => Number(document.querySelector('[data-map]').dataset.contextDrawn) > 0);
  assert.match(await page.getByTestId('map-legend').innerText(), /main road, street \(local layer\)[\s\S]*named place/);
  await page.evaluate(() => { document.querySelector('[data-map]').leaflet.setView([52.925, 1.215], 15); });
  await page.locator('[data-map]').first().locator('.place-label', { hasText: 'Eastmarsh Quay' }).waitFor();
  const outlines = await page.locator('.map path').count();
  assert.ok(outlines > 2, 'the offline basemap draws land and boundaries');
  assert.match(await page.getByTestId('map-legend').innerText(), /threat assessment[\s\S]*Natural Earth 1:10m/);
  await page.screenshot({ path: join(artifacts, 'threats.png'), fullPage: true });
  assert.deepEqual(problems, []);
  const response = await page.goto(`${context.server.url}/warnings`);
  assert.equal(response.status(), 404, 'analysts do not see warnings');
});
