// The therapist corrects a wrong answer in headless Chromium, as she would.
//
// Called by tests/review/test_correction_in_browser.py with one JSON argument:
//   {baseUrl, password, conversationId, message, topicTitle, artifacts}
// Signs in, opens the conversation, reads what the message was answered with,
// opens "Wrong answer", picks the right topic by its title and saves, taking a
// screenshot at each step. Prints what it saw as JSON on stdout.
import { runFlow, signIn } from '../browser/chromium.mjs';

await runFlow(async ({ page, options, seen, shoot }) => {
  // CSP refusals show as console errors; a missing resource is caught by its response instead.
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) seen.consoleErrors.push(message.text());
  });
  page.on('response', (response) => {
    if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) seen.failedResponses.push(response.url());
  });

  // 1. Sign in, landing on the conversation.
  const transcriptUrl = `${options.baseUrl}/conversations/${encodeURIComponent(options.conversationId)}`;
  await page.goto(transcriptUrl);
  await signIn(page, options.password, `**/conversations/${encodeURIComponent(options.conversationId)}`);

  // 2. The message shows the topic it was answered with, by title, with its confidence and runner-up.
  const message = page.locator('li.message.visitor', { hasText: options.message }).first();
  seen.understood = (await message.locator('.understood').innerText()).replace(/\s+/g, ' ').trim();
  seen.answeredWith = (await message.locator('.understood strong.topic').innerText()).trim();
  await shoot('01-answer-with-topic-and-runner-up');

  // 3. "Wrong answer": pick the right topic by its title, no script involved.
  await message.locator('details.wrong-answer summary').click();
  await message.getByLabel('The right topic').selectOption({ label: options.topicTitle });
  await shoot('02-right-topic-chosen');
  await message.getByRole('button', { name: 'Save correction' }).click();
  await page.waitForURL('**notice=corrected');
  seen.notice = (await page.getByRole('status').innerText()).trim();
  const corrected = page.locator('li.message.visitor', { hasText: options.message }).first();
  seen.correctedTo = (await corrected.locator('.correction strong').innerText()).trim();
  await shoot('03-corrected');

  // 4. The insights page shows its plots as images from the app, with no script.
  await page.getByRole('link', { name: 'Insights' }).click();
  await page.waitForURL('**/insights');
  await page.waitForLoadState('load');
  const images = page.locator('section.plot img');
  seen.plotCount = await images.count();
  seen.plotsLoaded = await images.evaluateAll((all) => all.every((image) => image.complete && image.naturalWidth > 0));
  await shoot('04-insights');
}, { seen: { consoleErrors: [], failedResponses: [] } });
