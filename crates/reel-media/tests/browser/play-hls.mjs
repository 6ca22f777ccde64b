// Plays an HLS URL in headless Chromium through hls.js, from a page on another origin, and
// prints on stdout, as one JSON line, what the player saw: how far it played, the picture's
// size, frames decoded and dropped, fatal errors, and the mean brightness of the frame on
// screen (a black or missing picture reads near 0).
//
//   node play-hls.mjs <playlist URL> [seconds to play, default 2] [variant]
//
// With a master playlist and a variant (a substring of its URI, e.g. "/vp9.m3u8"), the
// player is held on that variant and its CODECS attribute is reported.
//
// Chromium is Debian's (/usr/bin/chromium, or $REEL_CHROMIUM); playwright-core and hls.js
// come from the repository's package-lock.json.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { launch, loopbackPage, report } from './lib.mjs';

const require = createRequire(import.meta.url);
const [url, seconds = '2', variant = ''] = process.argv.slice(2);
if (!url) {
  console.error('usage: node play-hls.mjs <playlist URL> [seconds]');
  process.exit(2);
}
const hls = readFileSync(require.resolve('hls.js/dist/hls.min.js'), 'utf8');
const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
await report(browser, async () => {
  const page = await loopbackPage(browser, '<!doctype html><video id="v" muted playsinline></video>');
  await page.addScriptTag({ content: hls });
  const seen = await page.evaluate(
    async ({ url, seconds, variant }) => {
      const v = document.getElementById('v');
      if (!Hls.isSupported()) return { errors: ['hls.js: no MediaSource here'] };
      const player = new Hls();
      const errors = [];
      player.on(Hls.Events.ERROR, (_, d) => {
        if (d.fatal) errors.push(`${d.type}: ${d.details}${d.response ? ` (HTTP ${d.response.code} ${d.response.text ?? ''})` : ''}${d.error ? ` ${d.error}` : ''}`);
      });
      let level = -1;
      player.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
        if (!variant) return;
        level = d.levels.findIndex((l) => l.url.some((u) => u.includes(variant)));
        if (level < 0) errors.push(`no playable variant ${variant}`);
        else player.currentLevel = level;
      });
      player.loadSource(url);
      player.attachMedia(v);
      v.play().catch(() => {});
      const start = performance.now();
      while (performance.now() - start < 30000 && errors.length === 0) {
        if (v.currentTime >= seconds && v.videoWidth > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      v.pause();
      const q = v.getVideoPlaybackQuality();
      const brightness = reelBrightness(v);
      return {
        current_time: v.currentTime,
        width: v.videoWidth,
        height: v.videoHeight,
        decoded: q.totalVideoFrames,
        dropped: q.droppedVideoFrames,
        brightness,
        codecs: level >= 0 ? (player.levels[level].attrs.CODECS ?? '') : '',
        playing: player.currentLevel >= 0 ? player.levels[player.currentLevel].url[0] : '',
        errors,
      };
    },
    { url, seconds: Number(seconds), variant },
  );
  return seen;
});
