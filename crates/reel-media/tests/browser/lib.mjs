// What the browser scripts share: Debian's headless Chromium launched as the tests need it,
// a page on its own loopback origin (pages Chromium counts as public may not reach loopback
// addresses), and, inside that page, `reelBrightness(video)`: the mean brightness of the
// frame on screen (0 for a black or missing picture).
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

/** Chromium, headless, with `extra` arguments. */
export function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.REEL_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extra,
    ],
  });
}

function brightness(v) {
  if (!(v.videoWidth > 0)) return 0;
  const c = document.createElement('canvas');
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(v, 0, 0);
  const px = ctx.getImageData(0, 0, c.width, c.height).data;
  let sum = 0;
  for (let i = 0; i < px.length; i += 4) sum += px[i] + px[i + 1] + px[i + 2];
  return sum / (px.length / 4) / 3;
}

/**
 * A new page of `browser` showing `html`, served from a loopback server of its own; the
 * server closes once the page has loaded.
 */
export async function loopbackPage(browser, html) {
  const site = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  const page = await browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${site.address().port}/`);
  } finally {
    site.close();
  }
  await page.addScriptTag({ content: `window.reelBrightness = ${brightness.toString()};` });
  return page;
}

/** Runs `body` with a browser, printing what it returns as one JSON line. */
export async function report(browser, body) {
  try {
    console.log(JSON.stringify(await body()));
  } finally {
    await browser.close();
  }
}
