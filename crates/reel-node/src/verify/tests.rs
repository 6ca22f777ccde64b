//! The content checks on real encodes: honest renditions of varied content pass, and each
//! dishonest encode the orchestrator's faults make is caught with its own finding.

use reel_media::transcode::MediaFault;
use reel_media::{SessionSettings, TranscodeSession, VideoProfile};

use super::content::{self, Finding};
use super::decode::{Sampling, decode_rendition, decode_source};
use super::{SAMPLES, check_renditions, same_pictures};

/// Two rungs, as the gateway's tests use: one at the source's rate, one converted.
fn ladder() -> Vec<VideoProfile> {
    reel_media::parse_ladder_json(
        br#"[{"name":"a","width":256,"height":144,"bitrate":400000,"fps":30},
             {"name":"b","width":160,"height":90,"bitrate":150000,"fps":15}]"#,
    )
    .unwrap()
}

/// One-second segments of a lavfi source (320x180, 30 fps, H.264 + AAC).
fn segments(dir: &std::path::Path, source: &str, seconds: u32) -> Vec<Vec<u8>> {
    let stem = format!("{}-", source.len());
    let pattern = dir.join(format!("{stem}%d.ts"));
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("{source},scale=320:180,fps=30,format=yuv420p"))
        .args(["-f", "lavfi", "-i", "sine=frequency=300"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-c:a",
            "aac",
        ])
        .args([
            "-f",
            "segment",
            "-segment_time",
            "1",
            "-segment_format",
            "mpegts",
        ])
        .arg(&pattern)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {source}");
    (0..)
        .map(|i| dir.join(format!("{stem}{i}.ts")))
        .take_while(|p| p.exists())
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn transcode(settings: SessionSettings, segs: &[Vec<u8>]) -> Vec<Vec<bytes::Bytes>> {
    let mut session = TranscodeSession::new(settings).unwrap();
    segs.iter()
        .enumerate()
        .map(|(seq, ts)| {
            let media = reel_media::ts::demux(ts).unwrap();
            let r = session
                .transcode(&reel_media::Segment {
                    seq: seq as u64,
                    duration_ticks: 90_000,
                    discontinuity: false,
                    media,
                })
                .unwrap();
            r.renditions.into_iter().map(|r| r.data).collect()
        })
        .collect()
}

fn settings(ladder: Vec<VideoProfile>) -> SessionSettings {
    let mut s = SessionSettings::new(ladder);
    s.x264_preset = "ultrafast".into();
    s.encoder_threads = 1;
    s
}

/// The first finding over a run of segments, or what was measured.
fn judge(
    ladder: &[VideoProfile],
    segs: &[Vec<u8>],
    renditions: &[Vec<bytes::Bytes>],
) -> Result<Vec<content::Measured>, Finding> {
    let mut measured = Vec::new();
    for (ts, outs) in segs.iter().zip(renditions) {
        let src = decode_source(ts, SAMPLES).unwrap();
        let targets: Vec<i64> = src.samples.iter().map(|s| s.pts).collect();
        for (p, data) in ladder.iter().zip(outs) {
            let d = decode_rendition(data, p.codec, Sampling::Nearest(targets.clone())).unwrap();
            measured.push(content::check(p, &src, &d)?);
        }
    }
    Ok(measured)
}

#[test]
fn each_dishonest_encode_is_caught_with_its_own_finding() {
    let dir = tempfile::tempdir().unwrap();
    let segs = segments(dir.path(), "testsrc2=size=320x180:rate=30", 3);
    let honest = transcode(settings(ladder()), &segs);
    println!("honest: {:?}", judge(&ladder(), &segs, &honest).unwrap());

    let mut faulty = settings(ladder());
    faulty.fault = Some(MediaFault::WrongContent);
    let out = transcode(faulty, &segs);
    let found = judge(&ladder(), &segs, &out);
    println!("turned: {found:?}");
    assert!(matches!(found, Err(Finding::Content { .. })), "{found:?}");

    let mut frozen = settings(ladder());
    frozen.fault = Some(MediaFault::Frozen);
    let out = transcode(frozen, &segs);
    let found = judge(&ladder(), &segs, &out);
    println!("frozen: {found:?}");
    assert!(
        matches!(found, Err(Finding::Frozen { .. } | Finding::Content { .. })),
        "{found:?}"
    );

    let mut starved = ladder();
    for p in &mut starved {
        p.bitrate /= 10;
    }
    let out = transcode(settings(starved), &segs);
    let found = judge(&ladder(), &segs, &out);
    println!("starved: {found:?}");
    assert!(matches!(found, Err(Finding::Starved { .. })), "{found:?}");

    let mut halved = ladder();
    halved[0].fps_den = 2;
    let out = transcode(settings(halved), &segs);
    let found = judge(&ladder(), &segs, &out);
    assert!(
        matches!(found, Err(Finding::FrameCount { got, expected, .. }) if got * 2 <= expected + 1),
        "{found:?}"
    );

    // The two rungs in each other's place (same claims): caught by their sizes, and where
    // the sizes agree, by the frame rate.
    let mut same_size = ladder();
    same_size[1].width = 256;
    same_size[1].height = 144;
    let out: Vec<Vec<bytes::Bytes>> = transcode(settings(same_size.clone()), &segs)
        .into_iter()
        .map(|mut r| {
            r.swap(0, 1);
            r
        })
        .collect();
    let found = judge(&same_size, &segs, &out);
    assert!(
        matches!(found, Err(Finding::FrameCount { .. })),
        "{found:?}"
    );
    let src = decode_source(&segs[0], SAMPLES).unwrap();
    let swapped: Vec<bytes::Bytes> = {
        let mut r = honest[0].clone();
        r.swap(0, 1);
        r
    };
    let reported = [0, 0];
    let err = check_renditions(Ok(src), &ladder(), &swapped, &reported, true).unwrap_err();
    assert!(
        err.contains("PixelMismatch") || err.contains("expected"),
        "{err}"
    );
}

#[test]
fn the_verifier_comparison_tells_another_encode_from_other_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let segs = segments(dir.path(), "testsrc2=size=320x180:rate=30", 2);
    let first = transcode(settings(ladder()), &segs);
    // The verifier's own encoder settings: another preset, other threads.
    let mut other = settings(ladder());
    other.x264_preset = "veryfast".into();
    other.encoder_threads = 2;
    let trusted = transcode(other, &segs);
    for (a, b) in first.iter().zip(&trusted) {
        same_pictures(&ladder(), a, b).unwrap();
    }
    let mut turned = settings(ladder());
    turned.fault = Some(MediaFault::WrongContent);
    let cheat = transcode(turned, &segs);
    let err = same_pictures(&ladder(), &cheat[0], &trusted[0]).unwrap_err();
    assert!(err.starts_with("ReTranscodeMismatch: rendition a"), "{err}");
    // Half the frames: the counts disagree. (Frozen pictures of a mostly still source can
    // look alike at this scale; the content check catches those against the source.)
    let mut halved = ladder();
    halved[0].fps_den = 2;
    let cheat = transcode(settings(halved), &segs);
    let err = same_pictures(&ladder(), &cheat[1], &trusted[1]).unwrap_err();
    assert!(err.contains("frames, the verifier's"), "{err}");
}

/// Content as varied as a test can make it: motion, fine detail, chaos, still pictures, flat
/// colour, grain and pure noise. Random sources have fixed seeds.
const SOURCES: [&str; 10] = [
    "testsrc2=size=320x180:rate=30",
    "mandelbrot=size=320x180:rate=30",
    "life=size=320x180:rate=30:mold=10:ratio=0.3:seed=7",
    "cellauto=size=320x180:rate=30:rule=110:seed=7",
    "smptehdbars=size=320x180:rate=30",
    "color=c=black:size=320x180:rate=30",
    "gradients=size=320x180:rate=30:speed=0.05:seed=7",
    "testsrc2=size=320x180:rate=30,noise=alls=30:allf=t",
    "nullsrc=size=320x180:rate=30,geq=lum='random(1)*255':cb=128:cr=128",
    "rgbtestsrc=size=320x180:rate=30,hue=H=2*PI*t",
];

/// No false positive: `REEL_HONEST_SECONDS` (default 100) one-second segments of each source
/// in [`SOURCES`], each to three rungs (H.264 at the source's rate, VP9 converted to 15 fps,
/// and H.264 starved of bits on purpose: 100 kbit/s at 320x180), all pass every check. Prints the lowest measures per rung, the margins over the
/// floors.
#[test]
fn honest_renditions_of_varied_content_pass() {
    let seconds: u32 = std::env::var("REEL_HONEST_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let ladder = reel_media::parse_ladder_json(
        br#"[{"name":"a","width":256,"height":144,"bitrate":400000,"fps":30},
             {"name":"b","width":160,"height":90,"bitrate":150000,"fps":15,"encoder":"VP9"},
             {"name":"low","width":320,"height":180,"bitrate":100000}]"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0;
    let mut lowest = vec![f64::MAX; ladder.len()];
    // The renditions far under their bitrate, where the starved check looks: how many, and
    // their lowest full-size PSNR.
    let (mut under, mut under_db) = (0, f64::MAX);
    let started = std::time::Instant::now();
    let mut checking = std::time::Duration::ZERO;
    let mut compared = 0;
    for source in SOURCES {
        let segs = segments(dir.path(), source, seconds);
        let outs = transcode(settings(ladder.clone()), &segs);
        // The trusted re-transcode's comparison on the first segments, against another
        // preset's encode.
        let some = &segs[..segs.len().min(20)];
        let mut other = settings(ladder.clone());
        other.x264_preset = "veryfast".into();
        let mut widest = 0;
        for (i, (a, b)) in outs.iter().zip(transcode(other, some)).enumerate() {
            let bits = same_pictures(&ladder, a, &b)
                .unwrap_or_else(|e| panic!("{source}, segment {i}: {e}"));
            widest = widest.max(bits);
            compared += 1;
        }
        println!("{source}: two encodes' hashes at most {widest} apart");
        let t0 = std::time::Instant::now();
        for (i, (ts, out)) in segs.iter().zip(&outs).enumerate() {
            let src = decode_source(ts, SAMPLES).unwrap();
            let targets: Vec<i64> = src.samples.iter().map(|s| s.pts).collect();
            for (r, (p, data)) in ladder.iter().zip(out).enumerate() {
                let d =
                    decode_rendition(data, p.codec, Sampling::Nearest(targets.clone())).unwrap();
                let m = content::check(p, &src, &d)
                    .unwrap_or_else(|f| panic!("{source}, segment {i}: {f}"));
                lowest[r] = lowest[r].min(m.content_db);
                if m.kbps * content::STARVED_SHARE < p.bitrate / 1000 {
                    under += 1;
                    under_db = under_db.min(m.full_db);
                }
            }
            total += 1;
        }
        checking += t0.elapsed();
    }
    for (p, content_db) in ladder.iter().zip(&lowest) {
        println!(
            "rung {}: lowest content PSNR {content_db:.1} dB (floor {})",
            p.name,
            content::CONTENT_FLOOR_DB
        );
    }
    println!(
        "{under} renditions under 1/{} of their bitrate, lowest full-size PSNR {under_db:.1} dB \
         (floor {})",
        content::STARVED_SHARE,
        content::STARVED_FLOOR_DB
    );
    println!("{compared} segments encoded twice, the encodes' pictures agree");
    println!(
        "{total} honest segments, no finding; decode and checks {:.1} ms per segment (3 \
         rungs), {:.0} s in all",
        checking.as_secs_f64() * 1000.0 / f64::from(total.max(1)),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(total as u32, seconds * SOURCES.len() as u32);
}
