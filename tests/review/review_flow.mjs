// The therapist's review in headless Chromium, as she would use it.
//
// Called by tests/review/test_browser.py with one JSON argument:
//   {baseUrl, password, crisisId, bookingId, bookingConversationId, deleteId, markupId, artifacts}
// Signs in, opens the crisis-flagged conversation from the list, marks a booking
// request contacted, exports a conversation, deletes one and checks it is gone,
// taking a screenshot at each step. Prints what it saw as JSON on stdout.
import path from 'node:path';

import { runFlow, signIn } from '../browser/chromium.mjs';

await runFlow(async ({ page, options, seen, shoot }) => {
  // 1. Sign in: any page sends a stranger to the sign-in page first.
  await page.goto(`${options.baseUrl}/conversations`);
  seen.askedToSignIn = new URL(page.url()).pathname === '/sign-in';
  await shoot('01-sign-in');
  await signIn(page, options.password, '**/conversations');
  seen.signedIn = await page.getByRole('heading', { name: 'Conversations' }).isVisible();

  // 2. Open the crisis-flagged conversation from the list.
  await page.getByLabel('Flag').selectOption('crisis');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL('**flag=crisis**');
  const crisisRow = page.locator(`tr[data-conversation="${options.crisisId}"]`);
  seen.crisisRowFlagged = (await crisisRow.getAttribute('class')) === 'crisis';
  await shoot('02-crisis-flagged-list');
  await crisisRow.locator('td.first-message a').click();
  await page.waitForURL(`**/conversations/${options.crisisId}`);
  const crisisMessage = page.locator('li.message.visitor.crisis');
  seen.crisisMessage = (await crisisMessage.locator('.text').innerText()).trim();
  seen.crisisLabel = (await crisisMessage.locator('.crisis-label').innerText()).trim();
  seen.crisisBorder = await crisisMessage.evaluate((element) => getComputedStyle(element).borderTopWidth);
  await shoot('03-crisis-transcript');

  // 3. Mark a booking request contacted.
  await page.getByRole('link', { name: 'Booking requests' }).click();
  await page.waitForURL('**/bookings');
  const bookingRow = page.locator(`tr[data-booking="${options.bookingId}"]`);
  await bookingRow.getByLabel(`Status of request ${options.bookingId}`).selectOption('contacted');
  await bookingRow.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL('**/bookings?**');
  seen.bookingNotice = (await page.getByRole('status').innerText()).trim();
  seen.bookingStatus = await page.locator(`tr[data-booking="${options.bookingId}"] select`).inputValue();
  await shoot('04-booking-contacted');

  // 4. Export that conversation as JSON (a download).
  await page.goto(`${options.baseUrl}/conversations/${options.bookingConversationId}`);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Export JSON' }).click(),
  ]);
  seen.exportFile = path.join(options.artifacts, download.suggestedFilename());
  await download.saveAs(seen.exportFile);
  await shoot('05-before-export');

  // 5. Delete a conversation and see it gone.
  await page.goto(`${options.baseUrl}/conversations/${options.deleteId}`);
  await page.getByRole('link', { name: 'Delete this conversation' }).click();
  await page.waitForURL(`**/conversations/${options.deleteId}/delete`);
  await shoot('06-confirm-delete');
  await page.getByRole('button', { name: 'Delete permanently' }).click();
  await page.waitForURL('**/conversations?notice=deleted');
  seen.deleteNotice = (await page.getByRole('status').innerText()).trim();
  seen.deletedRowsInList = await page.locator(`tr[data-conversation="${options.deleteId}"]`).count();
  await shoot('07-deleted');
  const gone = await page.goto(`${options.baseUrl}/conversations/${options.deleteId}`);
  seen.deletedStatus = gone.status();

  // 6. Markup a visitor typed is text: no dialog opens, and it reads as typed.
  await page.goto(`${options.baseUrl}/conversations/${options.markupId}`);
  seen.markupText = (await page.locator('li.message.visitor .text').first().innerText()).trim();
  await shoot('08-markup-as-text');
}, { context: { acceptDownloads: true } });
