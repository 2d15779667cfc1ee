// Finding one's way and working under pressure: a deep link survives the login, the header
// marks the current section and breadcrumbs show the way back, home pages list what waits
// for each person with its age, pages fit a 390 px phone, text boxes are wide, and every
// time carries its zone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, launchBrowser, logIn, useServerAndBrowser } from './harness.mjs';

const context = useServerAndBrowser();

test('a page opened without a session is where the login leads back to', async () => {
  const page = await (await context.browser.newContext()).newPage();
  await page.goto(`${context.server.url}/sources/1/lifecycle`);
  assert.match(page.url(), /\/login\?next=%2Fsources%2F1%2Flifecycle$/);
  await page.getByLabel('Username').fill('hana');
  await page.getByLabel('Password').fill('demo-handler-pass');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('code-name').filter({ hasText: 'lifecycle' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/sources/1/lifecycle');
  // Another site's address is never where a login leads.
  const other = await (await context.browser.newContext()).newPage();
  await other.goto(`${context.server.url}/login?next=//attacker.example/`);
  await other.getByLabel('Username').fill('hana');
  await other.getByLabel('Password').fill('demo-handler-pass');
  await other.getByRole('button', { name: 'Log in' }).click();
  await other.getByTestId('whoami').waitFor();
  assert.equal(new URL(other.url()).origin, new URL(context.server.url).origin);
  assert.equal(new URL(other.url()).pathname, '/');
});

test('the header marks the section, breadcrumbs lead back, the lifecycle has its own contents', async () => {
  const { page, problems } = await logIn(context.browser, context.server.url, 'conrad', 'demo-controller-pass');
  await page.goto(`${context.server.url}/sources/1/lifecycle`);
  const current = page.getByRole('navigation', { name: 'Sections' }).locator('[aria-current="page"]');
  assert.equal(await current.innerText(), 'Sources');
  const crumbs = page.getByRole('navigation', { name: 'Breadcrumb' });
  assert.deepEqual(await crumbs.locator(':scope > *').allInnerTexts(), ['Home', 'Sources', 'NIGHTJAR', 'Lifecycle']);
  assert.equal(await crumbs.locator('[aria-current="page"]').innerText(), 'Lifecycle');
  await crumbs.getByRole('link', { name: 'NIGHTJAR' }).click();
  assert.equal(new URL(page.url()).pathname, '/sources/1');
  await page.goBack();
  const contents = page.getByRole('navigation', { name: 'On this page' });
  for (const section of ['Reliability', 'Authorisations', 'Risk', 'Contacts', 'Tasks', 'Welfare', 'Payments']) {
    const href = await contents.getByRole('link', { name: section }).getAttribute('href');
    assert.equal(await page.locator(href).count(), 1, `${section} leads to its section`);
  }
  assert.deepEqual(problems, []);
});

test('home pages list what waits for each person, with its age, linked to where it is done', async () => {
  // The authorising officer: OSPREY's application waits for a decision.
  const aurelia = await logIn(context.browser, context.server.url, 'aurelia', 'demo-authorising-pass');
  const application = aurelia.page.getByTestId('due-items').locator('tr', { hasText: 'Application awaits a decision' });
  assert.match(await application.innerText(), /OSPREY.*\d+ (minute|hour|day)s? ago/s);
  await application.getByRole('link', { name: 'OSPREY' }).click();
  assert.match(new URL(aurelia.page.url()).pathname, /^\/sources\/\d+\/lifecycle$/);
  await aurelia.page.getByTestId('grant-form').waitFor();

  // The controller: a payment the handler requests waits for approval.
  const hana = await logIn(context.browser, context.server.url, 'hana', 'demo-handler-pass');
  await hana.page.goto(`${context.server.url}/sources/1/lifecycle`);
  const form = hana.page.getByTestId('payment-form');
  await form.getByLabel('Amount').fill('20.00');
  await form.getByLabel('Purpose').fill('Bus fares');
  await form.getByLabel('I attest that this payment is not contingent on any outcome').check();
  await form.getByRole('button', { name: 'Request payment' }).click();
  await hana.page.getByTestId('done').waitFor();
  assert.equal(await hana.page.getByTestId('due-items').locator('li', { hasText: 'Payment awaits approval' }).count(), 1,
    'the source page lists it too');
  await hana.page.goto(`${context.server.url}/`);
  assert.equal(await hana.page.getByText('Payment awaits approval').count(), 0, 'the handler cannot approve it: not on their home');
  const conrad = await logIn(context.browser, context.server.url, 'conrad', 'demo-controller-pass');
  const payment = conrad.page.getByTestId('due-items').locator('tr', { hasText: 'Payment awaits approval' });
  assert.match(await payment.innerText(), /NIGHTJAR.*(just now|minutes? ago)/s);

  // The administrator, who has nothing waiting, is told so.
  const adam = await logIn(context.browser, context.server.url, 'adam', 'demo-admin-pass-1');
  assert.match(await adam.page.getByTestId('nothing-waits').innerText(), /Nothing waits for you now/);
});

test('pages fit a 390 px phone, text boxes are wide, checkboxes sit by their words, times carry their zone', async () => {
  const browser = await launchBrowser();
  try {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await phone.newPage();
    await page.goto(`${context.server.url}/login`);
    await page.getByLabel('Username').fill('conrad');
    await page.getByLabel('Password').fill('demo-controller-pass');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('whoami').waitFor();
    const sections = await page.getByRole('navigation', { name: 'Sections' }).getByRole('link').evaluateAll((links) => links.map((a) => new URL(a.href).pathname));
    for (const path of [...sections, '/sources/1', '/sources/1/lifecycle', '/sources/1/intel']) {
      await page.goto(`${context.server.url}${path}`);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `${path} is ${width} px wide at 390`);
      const logout = await page.getByRole('button', { name: 'Log out' }).boundingBox();
      assert.ok(logout && logout.x >= 0 && logout.x + logout.width <= 390, `${path}: Log out is on the screen`);
    }
    await page.goto(`${context.server.url}/sources/1/lifecycle`);
    await page.screenshot({ path: join(artifacts, 'lifecycle-phone.png'), fullPage: false });

    const desk = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await desk.goto(`${context.server.url}/login?next=/sources/1/lifecycle`);
    await desk.getByLabel('Username').fill('hana');
    await desk.getByLabel('Password').fill('demo-handler-pass');
    await desk.getByRole('button', { name: 'Log in' }).click();
    await desk.getByTestId('code-name').waitFor();
    for (const name of ['summary', 'mitigations', 'purpose', 'description']) {
      const box = await desk.locator(`textarea[name="${name}"]`).first().boundingBox();
      assert.ok(box.width > 600, `the ${name} box is ${box.width} px wide`);
    }
    const tick = desk.getByLabel('I attest that this payment is not contingent on any outcome');
    const [tickBox, labelBox] = [await tick.boundingBox(), await tick.locator('xpath=..').boundingBox()];
    assert.ok(tickBox.x - labelBox.x < 10, 'the checkbox starts its label');
    const times = await desk.evaluate(() => document.querySelector('main').innerText.match(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?! UTC)/g));
    assert.equal(times, null, 'every time shown carries its zone');
    assert.ok((await desk.locator('main').innerText()).match(/\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/), 'times are shown');
  } finally {
    await browser.close();
  }
});
