// Publishes Chromium's fake camera and microphone to a WHIP endpoint from a page on its own
// loopback origin, for some seconds, then ends the session with DELETE, and prints on
// stdout, as one JSON line, what happened: the POST's status, the connection state reached,
// frames encoded and bytes sent.
//
//   node publish-whip.mjs <WHIP URL> [seconds, default 6] [bearer token]
import { launch, loopbackPage, report } from './lib.mjs';

const [url, seconds = '6', bearer = ''] = process.argv.slice(2);
if (!url) {
  console.error('usage: node publish-whip.mjs <WHIP URL> [seconds] [bearer token]');
  process.exit(2);
}
const browser = await launch([
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
]);
await report(browser, async () => {
  const page = await loopbackPage(browser, '<!doctype html><p>publisher</p>');
  const seen = await page.evaluate(
    async ({ url, seconds, bearer }) => {
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 360, frameRate: 30 },
        audio: true,
      });
      const pc = new RTCPeerConnection();
      for (const track of media.getTracks()) {
        const t = pc.addTransceiver(track, { direction: 'sendonly' });
        if (track.kind === 'video') {
          t.setCodecPreferences(
            RTCRtpSender.getCapabilities('video').codecs.filter(
              (c) => c.mimeType === 'video/H264' && (c.sdpFmtpLine ?? '').includes('packetization-mode=1'),
            ),
          );
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      // WHIP without trickle: the offer carries every candidate.
      await new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
        setTimeout(resolve, 3000);
      });
      const headers = { 'content-type': 'application/sdp' };
      if (bearer) headers.authorization = `Bearer ${bearer}`;
      const res = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp });
      const body = await res.text();
      if (res.status !== 201) return { status: res.status, error: body };
      const location = new URL(res.headers.get('location'), url).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      const start = performance.now();
      while (pc.connectionState !== 'connected' && performance.now() - start < 10000) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const connected = pc.connectionState;
      await new Promise((r) => setTimeout(r, seconds * 1000));
      let frames = 0;
      let bytes = 0;
      let codec = '';
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') {
          frames = s.framesEncoded;
          bytes = s.bytesSent;
        }
        if (s.type === 'codec' && s.mimeType.startsWith('video/')) codec = s.mimeType;
      });
      const ended = await fetch(location, { method: 'DELETE' });
      pc.close();
      return { status: 201, connected, frames, bytes, codec, deleted: ended.status };
    },
    { url, seconds: Number(seconds), bearer },
  );
  return seen;
});
