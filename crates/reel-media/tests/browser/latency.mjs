// Glass-to-glass latency from WHIP in to WHEP out, in one headless Chromium: page A
// publishes a canvas whose top row shows the time (sixteen black or white blocks: the clock
// in 10 ms units, modulo 65536) over WHIP; once `rendition` has a segment, page B plays it
// over WHEP and reads the time back from every frame it shows. Prints on stdout, as one
// JSON line, the latencies seen (ms), in order.
//
//   node latency.mjs <WHIP URL> <WHEP URL> [seconds to watch, default 3]
import { launch, loopbackPage, report } from './lib.mjs';

const [whip, whep, seconds = '3'] = process.argv.slice(2);
if (!whip || !whep) {
  console.error('usage: node latency.mjs <WHIP URL> <WHEP URL> [seconds]');
  process.exit(2);
}
const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
await report(browser, async () => {
  const publisher = await loopbackPage(browser, '<!doctype html><canvas id="c" width="640" height="360"></canvas>');
  const published = await publisher.evaluate(async (url) => {
    const c = document.getElementById('c');
    const ctx = c.getContext('2d');
    const draw = () => {
      const t = Math.floor(Date.now() / 10) & 0xffff;
      ctx.fillStyle = '#808080';
      ctx.fillRect(0, 0, 640, 360);
      for (let i = 0; i < 16; i++) {
        ctx.fillStyle = (t >> (15 - i)) & 1 ? '#ffffff' : '#000000';
        ctx.fillRect(i * 40, 0, 40, 80);
      }
      // Something that moves below the clock, as a camera's picture does.
      ctx.fillStyle = '#3060c0';
      ctx.fillRect((Date.now() / 5) % 600, 200, 40, 40);
      requestAnimationFrame(draw);
    };
    draw();
    setInterval(draw, 33);
    const pc = new RTCPeerConnection();
    const t = pc.addTransceiver(c.captureStream(30).getVideoTracks()[0], { direction: 'sendonly' });
    t.setCodecPreferences(
      RTCRtpSender.getCapabilities('video').codecs.filter(
        (k) => k.mimeType === 'video/H264' && (k.sdpFmtpLine ?? '').includes('packetization-mode=1'),
      ),
    );
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      setTimeout(resolve, 3000);
    });
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    if (res.status !== 201) return res.status;
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    window.keep = pc;
    return 201;
  }, whip);
  if (published !== 201) return { error: `WHIP answered ${published}` };
  const viewer = await loopbackPage(browser, '<!doctype html><video id="v" muted playsinline autoplay></video>');
  return viewer.evaluate(
    async ({ url, seconds }) => {
      const v = document.getElementById('v');
      // Wait for the first segment to be ready for WHEP.
      let res;
      let pc;
      for (let i = 0; i < 100; i++) {
        pc = new RTCPeerConnection();
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.ontrack = (e) => {
          v.srcObject = e.streams[0] ?? new MediaStream([e.track]);
        };
        await pc.setLocalDescription(await pc.createOffer());
        await new Promise((r) => setTimeout(r, 200));
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/sdp' },
          body: pc.localDescription.sdp,
        });
        if (res.status === 201) break;
        pc.close();
      }
      if (res.status !== 201) return { error: `WHEP answered ${res.status}` };
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      const c = document.createElement('canvas');
      const ctx = c.getContext('2d', { willReadFrequently: true });
      const latencies = [];
      const end = performance.now() + 20000;
      let watching = null;
      while (performance.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
        if (!(v.videoWidth > 0)) continue;
        watching ??= performance.now();
        if (performance.now() - watching > seconds * 1000) break;
        c.width = v.videoWidth;
        c.height = v.videoHeight;
        ctx.drawImage(v, 0, 0);
        const y = Math.round((40 * v.videoHeight) / 360);
        let t = 0;
        for (let i = 0; i < 16; i++) {
          const x = Math.round(((i * 40 + 20) * v.videoWidth) / 640);
          const px = ctx.getImageData(x, y, 1, 1).data;
          t = (t << 1) | (px[0] + px[1] + px[2] > 384 ? 1 : 0);
        }
        const now = Math.floor(Date.now() / 10) & 0xffff;
        latencies.push(((now - t + 0x10000) & 0xffff) * 10);
      }
      return { latencies, width: v.videoWidth, height: v.videoHeight };
    },
    { url: whep, seconds: Number(seconds) },
  );
});
