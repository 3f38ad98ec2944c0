// A website visitor, played in headless Chromium against the demo page.
//
//   node tests/channels/widget_visitor.mjs <scenario> <demo-page-url> <artifacts-dir>
//
// Each scenario does what a visitor does (click, type, press keys, reload) and
// prints one JSON line of what the visitor saw; tests/channels/test_web_widget_browser.py
// checks it. A step that never shows what it waits for fails the run with a message.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { launchChromium } from '../browser/chromium.mjs';

const WAIT_MS = 30000;
// The first turn after the assistant starts warms its models: slow on a loaded machine.
const FIRST_WORDS_WAIT_MS = 90000;
const PRACTICE = /Chat with /;

function chatParts(page) {
  return {
    launcher: page.getByRole('button', { name: PRACTICE }),
    panel: page.getByRole('dialog'),
    input: page.getByRole('textbox', { name: 'Your message' }),
    send: page.getByRole('button', { name: 'Send', exact: true }),
    assistantMessages: page.locator('.pc-message--assistant'),
    visitorMessages: page.locator('.pc-message--visitor'),
    replies: page.getByRole('group', { name: 'Suggested replies' }).getByRole('button'),
    typing: page.locator('.pc-typing'),
  };
}

async function waitForAssistant(page, text, step, timeout = WAIT_MS) {
  try {
    await chatParts(page).assistantMessages.filter({ hasText: text }).last().waitFor({ timeout });
  } catch (error) {
    const seen = await transcript(page);
    throw new Error(`${step}: the assistant never said ${JSON.stringify(String(text))}. Seen:\n${seen.join('\n')}`);
  }
}

// A turn arrives as several messages; its buttons come with the last one, so a step
// that reads them waits for the one it expects first.
async function waitForReply(page, title, step) {
  try {
    await chatParts(page).replies.filter({ hasText: title }).first().waitFor({ timeout: WAIT_MS });
  } catch (error) {
    const seen = await transcript(page);
    throw new Error(`${step}: no ${JSON.stringify(title)} button appeared. Seen:\n${seen.join('\n')}`);
  }
}

// Waits until the assistant has said something after the `before` messages it had said.
async function waitForAnswer(page, before, step) {
  const deadline = Date.now() + WAIT_MS;
  while ((await chatParts(page).assistantMessages.count()) <= before) {
    if (Date.now() > deadline) throw new Error(`${step}: the assistant never answered`);
    await page.waitForTimeout(100);
  }
  await page.waitForTimeout(500);
}

async function transcript(page) {
  return page.locator('.pc-message').evaluateAll((nodes) =>
    nodes.map((node) => {
      const who = node.classList.contains('pc-message--visitor') ? 'visitor' : 'assistant';
      const text = node.querySelector('.pc-text');
      return `${who}: ${text ? text.innerText : ''}`;
    }),
  );
}

async function replyTitles(page) {
  return chatParts(page).replies.allInnerTexts();
}

async function say(page, text) {
  const { input } = chatParts(page);
  await input.fill(text);
  await input.press('Enter');
}

async function storedConversation(page) {
  return page.evaluate(() => {
    const key = Object.keys(localStorage).find((name) => name.startsWith('practice-chat:'));
    return key ? { key, ...JSON.parse(localStorage.getItem(key)) } : null;
  });
}

async function storedSession(page) {
  const kept = await storedConversation(page);
  return kept ? kept.sessionId : null;
}

async function focusedLabel(page) {
  return page.evaluate(() => {
    const host = document.getElementById('practice-chat');
    const active = host && host.shadowRoot ? host.shadowRoot.activeElement : document.activeElement;
    if (!active) return null;
    return active.getAttribute('aria-label') || active.id || active.textContent.trim();
  });
}

// Records what any alert, confirm or prompt said (a script run from a message would open one).
function recordDialogs(page) {
  const dialogs = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  return dialogs;
}

// Opens the demo page and the chat, and waits for the assistant's first words.
async function openChat(page, url) {
  await page.goto(url);
  const chat = chatParts(page);
  await chat.launcher.click();
  await waitForAssistant(page, 'automated assistant', 'opening the chat', FIRST_WORDS_WAIT_MS);
  return chat;
}

// Scenarios

async function askBookAndReload(browser, url, artifacts) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const hosts = new Set();
  page.on('request', (request) => hosts.add(new URL(request.url()).host));
  const dialogs = recordDialogs(page);
  const chat = await openChat(page, url);
  const notice = chat.assistantMessages.first();
  const seen = { noticeVisible: await notice.isVisible(), notice: await notice.innerText() };

  await say(page, 'is ketamine safe?');
  seen.typingShown = await chat.typing.waitFor({ timeout: 5000 }).then(() => true, () => false);
  await waitForAssistant(page, "From the practice's writing", 'asking is ketamine safe');
  await waitForReply(page, 'Book a free call', 'asking is ketamine safe');
  seen.answer = await transcript(page);
  seen.answerButtons = await replyTitles(page);

  await chat.replies.filter({ hasText: 'Book a free call' }).click();
  await waitForAssistant(page, 'what name', 'pressing the booking button');
  await say(page, 'Jordan Lee');
  await waitForAssistant(page, 'How can she reach you', 'giving a name');
  await say(page, 'jordan@example');
  await waitForAssistant(page, "doesn't look like an email address", 'giving an invalid email');
  seen.invalidEmailAnswer = await chat.assistantMessages
    .filter({ hasText: "doesn't look like an email address" })
    .last()
    .innerText();
  await say(page, 'jordan@example.com');
  await waitForAssistant(page, 'times', 'giving an email');
  await say(page, 'weekday mornings');
  await waitForAssistant(page, 'Is it OK for', 'giving times');
  await waitForReply(page, 'No', 'giving times');
  seen.consentButtons = await replyTitles(page);
  await chat.replies.filter({ hasText: "Yes, that's OK" }).click();
  await waitForAssistant(page, "Here's what I have", 'consenting');
  await waitForReply(page, 'Yes, send it', 'consenting');
  seen.confirmation = await chat.assistantMessages.filter({ hasText: "Here's what I have" }).last().innerText();
  seen.confirmationButtons = await replyTitles(page);
  await chat.replies.filter({ hasText: 'Yes, send it' }).click();
  await waitForAssistant(page, 'Your request is with', 'sending the request');
  const link = chat.assistantMessages.last().getByRole('link');
  seen.link = {
    href: await link.getAttribute('href'),
    target: await link.getAttribute('target'),
    rel: await link.getAttribute('rel'),
  };
  await chat.typing.waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
  seen.screenshot = path.join(artifacts, 'widget-finished-conversation.png');
  await page.screenshot({ path: seen.screenshot });

  seen.before = await transcript(page);
  seen.sessionBefore = await storedSession(page);
  seen.tokenBefore = (await storedConversation(page)).sessionToken;
  await page.reload();
  await chat.panel.waitFor({ timeout: WAIT_MS });
  await chat.visitorMessages.first().waitFor({ timeout: WAIT_MS });
  seen.afterReload = await transcript(page);
  seen.sessionAfterReload = await storedSession(page);
  await say(page, 'what is IFS?');
  await waitForAssistant(page, 'Internal Family Systems', 'asking after the reload');

  await page.close();
  const reopened = await context.newPage();
  await reopened.goto(url);
  await chatParts(reopened).panel.waitFor({ timeout: WAIT_MS });
  await chatParts(reopened).visitorMessages.first().waitFor({ timeout: WAIT_MS });
  seen.afterReopening = await transcript(reopened);
  seen.hosts = [...hosts];
  seen.dialogs = dialogs;
  await context.close();
  return seen;
}

async function keyboardOnly(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(url);
  const seen = { tabsToLauncher: 0 };
  while (!PRACTICE.test((await focusedLabel(page)) || '') && seen.tabsToLauncher < 20) {
    await page.keyboard.press('Tab');
    seen.tabsToLauncher += 1;
  }
  seen.launcherOutline = await chatParts(page).launcher.evaluate((node) => getComputedStyle(node).outlineWidth);
  await page.keyboard.press('Enter');
  await waitForAssistant(page, 'automated assistant', 'opening with Enter');
  seen.focusAfterOpening = await focusedLabel(page);
  await page.keyboard.type('what is IFS?');
  await page.keyboard.press('Enter');
  await waitForAssistant(page, 'Internal Family Systems', 'asking with the keyboard');
  await waitForReply(page, 'Book a free call', 'asking with the keyboard');
  await chatParts(page).typing.waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
  await page.keyboard.press('Shift+Tab');
  seen.focusAfterShiftTab = await focusedLabel(page);
  await page.keyboard.press('Enter');
  seen.pressedWithKeyboard = seen.focusAfterShiftTab;
  await chatParts(page).visitorMessages.filter({ hasText: seen.focusAfterShiftTab }).waitFor({ timeout: WAIT_MS });
  await waitForAssistant(page, 'what name should she use', 'pressing a reply with the keyboard');
  seen.afterPressing = await transcript(page);
  await page.keyboard.press('Escape');
  seen.panelOpenAfterEscape = await chatParts(page).panel.isVisible();
  seen.focusAfterEscape = await focusedLabel(page);
  await page.close();
  return seen;
}

async function phoneScreen(browser, url, artifacts) {
  const context = await browser.newContext({
    viewport: { width: 375, height: 667 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const page = await context.newPage();
  await page.goto(url);
  const chat = chatParts(page);
  await chat.launcher.tap();
  await waitForAssistant(page, 'automated assistant', 'opening on a phone');
  await say(page, 'how does the treatment work?');
  await chat.visitorMessages.first().waitFor({ timeout: WAIT_MS });
  await page.waitForTimeout(2500);
  const box = async (locator) => locator.boundingBox();
  const seen = {
    panel: await box(chat.panel),
    input: await box(chat.input),
    send: await box(chat.send),
    launcherVisible: await chat.launcher.isVisible(),
    pageScrollWidth: await page.evaluate(() => document.documentElement.scrollWidth),
    widestMessage: await page
      .locator('.pc-message .cs-message__content')
      .evaluateAll((nodes) => Math.max(...nodes.map((node) => node.getBoundingClientRect().right))),
  };
  seen.screenshot = path.join(artifacts, 'widget-phone-375.png');
  await page.screenshot({ path: seen.screenshot });
  await context.close();
  return seen;
}

async function unsafeText(browser, url) {
  const page = await browser.newPage();
  const dialogs = recordDialogs(page);
  const chat = await openChat(page, url);
  const seen = { sendDisabledWhenBlank: false };
  await chat.input.fill('   ');
  seen.sendDisabledWhenBlank = await chat.send.isDisabled();
  await chat.input.press('Enter');
  const html = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold?</b>';
  const emoji = '😀🙏 is ketamine safe? 🌿';
  const rtl = 'هل العلاج بالكيتامين آمن؟';
  for (const text of [html, emoji, rtl]) {
    const said = await chat.assistantMessages.count();
    await say(page, text);
    await chat.visitorMessages.filter({ hasText: text.slice(0, 12) }).waitFor({ timeout: WAIT_MS });
    await waitForAnswer(page, said, `sending ${JSON.stringify(text)}`);
  }
  seen.visitorTexts = await chat.visitorMessages.locator('.pc-text').allInnerTexts();
  seen.elementsInMessages = await page
    .locator('.pc-message')
    .evaluateAll((nodes) => nodes.flatMap((node) => [...node.querySelectorAll('img, script, b')].map((el) => el.tagName)));
  seen.pwned = await page.evaluate(() => window.__pwned || null);
  seen.dialogs = dialogs;
  seen.rtlDirection = await chat.visitorMessages
    .filter({ hasText: rtl })
    .locator('.pc-text')
    .evaluate((node) => getComputedStyle(node).direction + '/' + node.getAttribute('dir'));
  seen.transcript = await transcript(page);
  await page.close();
  return seen;
}

async function startOver(browser, url) {
  const page = await browser.newPage();
  const chat = await openChat(page, url);
  await say(page, 'I want to book a call');
  await waitForAssistant(page, 'what name', 'asking to book');
  const seen = { sessionBefore: await storedSession(page) };
  await page.getByRole('button', { name: 'Start over' }).click();
  await waitForAssistant(page, 'automated assistant', 'starting over');
  await page.waitForTimeout(1500);
  seen.afterStartOver = await transcript(page);
  seen.sessionAfter = await storedSession(page);
  const said = await chat.assistantMessages.count();
  await say(page, 'Jordan');
  await waitForAnswer(page, said, 'saying a name after starting over');
  seen.afterName = await transcript(page);
  await page.close();
  return seen;
}

// The visitor deletes the conversation from the header's menu, confirms, and writes again.
async function deleteFromMenu(browser, url) {
  const page = await browser.newPage();
  const chat = await openChat(page, url);
  await say(page, 'is ketamine safe?');
  await waitForAssistant(page, "From the practice's writing", 'asking a question');
  const seen = { session: await storedSession(page) };
  await page.getByRole('button', { name: 'More options' }).click();
  const items = page.getByRole('menu', { name: 'Your conversation' }).getByRole('menuitem');
  seen.menuItems = await items.allInnerTexts();
  await items.filter({ hasText: 'Delete this conversation' }).click();
  await waitForReply(page, 'Yes, delete it', 'choosing "Delete this conversation"');
  seen.confirmation = (await transcript(page)).slice(-1)[0];
  seen.confirmButtons = await replyTitles(page);
  await chat.replies.filter({ hasText: 'Yes, delete it' }).click();
  await waitForAssistant(page, 'has been deleted', 'confirming the deletion');
  await page.waitForTimeout(1500);
  seen.afterDeletion = await transcript(page);
  seen.storedMessages = (await storedConversation(page)).messages.map((message) => message.text);
  seen.sessionAfter = await storedSession(page);
  await say(page, 'hello');
  await waitForAssistant(page, 'automated assistant', 'writing after the deletion');
  seen.afterNextMessage = await transcript(page);
  await page.close();
  return seen;
}

async function labelsAndContrast(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const chat = await openChat(page, url);
  await say(page, 'is ketamine safe?');
  await chat.typing.waitFor({ timeout: 5000 }).catch(() => {});
  const typingContrast = await contrastOf(page.locator('.pc-typing .cs-typing-indicator__text'));
  await waitForAssistant(page, "From the practice's writing", 'asking a question');
  await chat.typing.waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
  const seen = {
    ariaSnapshot: await page.locator('#practice-chat').ariaSnapshot(),
    contrast: {
      'assistant text': await contrastOf(page.locator('.pc-message--assistant .pc-text').first()),
      'visitor text': await contrastOf(page.locator('.pc-message--visitor .pc-text').first()),
      'reply button': await contrastOf(chat.replies.first()),
      title: await contrastOf(page.locator('.pc-title')),
      subtitle: await contrastOf(page.locator('.pc-subtitle')),
      'start over': await contrastOf(page.getByRole('button', { name: 'Start over' })),
      launcher: await contrastOf(page.locator('.pc-launcher'), { graphic: true }),
      'typing indicator': typingContrast,
    },
  };
  seen.contrast.placeholder = await contrastOf(chat.input, { pseudo: '::placeholder' });
  await chat.input.fill('x');
  seen.contrast['send button'] = await contrastOf(chat.send);
  await page.close();
  return seen;
}

// The WCAG contrast ratio of an element's text with the first opaque background behind it.
async function contrastOf(locator, { graphic = false, pseudo = null } = {}) {
  return locator.evaluate((element, [isGraphic, pseudoElement]) => {
    const rgb = (color) => color.match(/[\d.]+/g).map(Number);
    const luminance = ([r, g, b]) => {
      const channel = (value) => {
        const v = value / 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const background = (start) => {
      for (let node = start; node; node = node.parentElement || (node.getRootNode() && node.getRootNode().host)) {
        const color = rgb(getComputedStyle(node).backgroundColor);
        if (color.length === 3 || color[3] > 0) return color;
        if (node === document.documentElement) break;
      }
      return [255, 255, 255];
    };
    const foreground = rgb(getComputedStyle(element, pseudoElement).color);
    const behind = isGraphic ? background(element.getRootNode().host.parentElement) : background(element);
    const front = isGraphic ? background(element) : foreground;
    const [lighter, darker] = [luminance(front), luminance(behind)].sort((a, b) => b - a);
    return Math.round(((lighter + 0.05) / (darker + 0.05)) * 100) / 100;
  }, [graphic, pseudo]);
}

// Another browser that knows a visitor's conversation id (from a shared screen, a
// log, an email) puts it in its own storage with a made-up token and opens the chat.
async function stolenSession(browser, url) {
  const victim = await (await browser.newContext()).newPage();
  await openChat(victim, url);
  await say(victim, 'I want to book a call');
  await waitForAssistant(victim, 'what name', 'the visitor asking to book');
  const kept = await storedConversation(victim);
  const forgedToken = `${kept.sessionId}.${'A'.repeat(43)}`;
  const planted = JSON.stringify({ sessionId: kept.sessionId, sessionToken: forgedToken, messages: [], open: true, savedAt: Date.now() });

  const thiefContext = await browser.newContext();
  await thiefContext.addInitScript(
    ([key, value]) => localStorage.getItem(key) || localStorage.setItem(key, value),
    [kept.key, planted],
  );
  const thief = await thiefContext.newPage();
  await thief.goto(url);
  await waitForAssistant(thief, 'automated assistant', 'the other browser opening the chat');
  const said = await chatParts(thief).assistantMessages.count();
  await say(thief, 'Jordan');
  await waitForAnswer(thief, said, 'the other browser giving a name');
  const seen = {
    victimSession: kept.sessionId,
    thiefSession: await storedSession(thief),
    thiefToken: (await storedConversation(thief)).sessionToken,
    forgedToken,
    thiefTranscript: await transcript(thief),
  };
  await say(victim, 'Jordan Lee');
  await waitForAssistant(victim, 'How can she reach you', 'the visitor giving a name after the other browser');
  seen.victimTranscript = await transcript(victim);
  await thiefContext.close();
  await victim.context().close();
  return seen;
}

// A visitor in Berlin books the free call into the calendar: the widget reports the
// browser's time zone with each message, so the times come without a time-zone question.
const BOOKING_TIME_ZONE = 'Europe/Berlin';

async function bookCalendarTime(browser, url, artifacts) {
  const context = await browser.newContext({ timezoneId: BOOKING_TIME_ZONE, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const chat = await openChat(page, url);
  const seen = { browserTimeZone: await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone) };
  await say(page, 'is ketamine safe?');
  await waitForAssistant(page, "From the practice's writing", 'asking a question first');
  await say(page, "I'd like to book the free call");
  await waitForAssistant(page, 'what name', 'asking to book');
  await say(page, 'Jordan Lee');
  await waitForAssistant(page, 'How can she reach you', 'giving a name');
  await say(page, 'jordan@example.com');
  await waitForAssistant(page, 'next free times', 'giving an email');
  await waitForReply(page, 'Other times', 'giving an email');
  seen.offer = (await transcript(page)).slice(-1)[0];
  seen.offeredButtons = await replyTitles(page);
  seen.chosen = seen.offeredButtons[0];
  await chat.replies.first().click();
  await waitForAssistant(page, 'Is it OK for', 'choosing a time');
  await waitForReply(page, "Yes, that's OK", 'choosing a time');
  await chat.replies.filter({ hasText: "Yes, that's OK" }).click();
  await waitForAssistant(page, "Here's what I have", 'consenting');
  await waitForReply(page, 'Yes, book it', 'consenting');
  seen.confirmation = await chat.assistantMessages.filter({ hasText: "Here's what I have" }).last().innerText();
  await chat.replies.filter({ hasText: 'Yes, book it' }).click();
  await waitForAssistant(page, "You're booked", 'confirming the booking');
  seen.booked = await chat.assistantMessages.filter({ hasText: "You're booked" }).last().innerText();
  await chat.typing.waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
  seen.transcript = await transcript(page);
  seen.session = await storedSession(page);
  seen.screenshot = path.join(artifacts, 'widget-booked-call.png');
  await page.screenshot({ path: seen.screenshot });
  await context.close();
  return seen;
}

const SCENARIOS = {
  stolen_session: stolenSession,
  ask_book_and_reload: askBookAndReload,
  keyboard_only: keyboardOnly,
  phone_screen: phoneScreen,
  unsafe_text: unsafeText,
  start_over: startOver,
  delete_from_menu: deleteFromMenu,
  labels_and_contrast: labelsAndContrast,
  book_calendar_time: bookCalendarTime,
};

const [scenario, url, artifacts] = process.argv.slice(2);
if (!SCENARIOS[scenario] || !url || !artifacts) {
  console.error(`usage: node widget_visitor.mjs <${Object.keys(SCENARIOS).join('|')}> <url> <artifacts-dir>`);
  process.exit(2);
}
await mkdir(artifacts, { recursive: true });
const browser = await launchChromium();
try {
  console.log(JSON.stringify(await SCENARIOS[scenario](browser, url, artifacts)));
} finally {
  await browser.close();
}
