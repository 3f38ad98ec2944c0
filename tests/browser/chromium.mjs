// Launches Debian's Chromium (apt package `chromium`) headless for browser tests.
//
// playwright-core never downloads a browser: it drives the one at CHROMIUM_PATH
// (default /usr/bin/chromium), which `make test` installs when it is missing.
// The flags keep Chromium from calling home or updating itself, so a test run
// sends traffic only to the servers the test started on loopback.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Starts headless Chromium; the caller closes it. */
export async function launchChromium(options = {}) {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    ...options,
  });
}

/**
 * Runs one flow of a Python browser test, which passes its options as one JSON argument
 * (`options.artifacts` is the folder for screenshots and flow.json).
 *
 * `steps({ page, options, seen, shoot })` drives the page and records in `seen`;
 * `shoot(name)` saves a full-page screenshot. Dialogs are dismissed and recorded,
 * and so are page errors, so a test can prove that visitors' markup never ran. A step
 * that throws ends the flow with `seen.failure`, so the test shows how far it got:
 * `seen` is printed as JSON on stdout either way, and kept in flow.json.
 */
export async function runFlow(steps, { seen = {}, context = {} } = {}) {
  const options = JSON.parse(process.argv[2]);
  const record = { screenshots: [], dialogs: [], errors: [], ...seen };

  mkdirSync(options.artifacts, { recursive: true });
  const browser = await launchChromium();
  try {
    const browserContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...context });
    const page = await browserContext.newPage();
    page.setDefaultTimeout(15000);
    page.on('dialog', async (dialog) => { record.dialogs.push(dialog.message()); await dialog.dismiss(); });
    page.on('pageerror', (error) => record.errors.push(String(error)));

    const shoot = async (name) => {
      const file = path.join(options.artifacts, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      record.screenshots.push(file);
    };
    await steps({ page, options, seen: record, shoot });
  } catch (error) {
    record.failure = String(error && error.stack ? error.stack : error);
  } finally {
    await browser.close();
  }
  writeFileSync(path.join(options.artifacts, 'flow.json'), JSON.stringify(record, null, 2));
  process.stdout.write(JSON.stringify(record));
}

/** Signs in to the review app from the sign-in page it sent the browser to, and waits to land on `landing`. */
export async function signIn(page, password, landing) {
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(landing);
}
