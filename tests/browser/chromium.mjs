// Launches Debian's Chromium (apt package `chromium`) headless for browser tests.
//
// playwright-core never downloads a browser: it drives the one at CHROMIUM_PATH
// (default /usr/bin/chromium), which `make test` installs when it is missing.
// The flags keep Chromium from calling home or updating itself, so a test run
// sends traffic only to the servers the test started on loopback.
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
