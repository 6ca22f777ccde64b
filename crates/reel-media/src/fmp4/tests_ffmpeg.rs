//! Real encoders in, real ffprobe/ffmpeg out: streams from the ffmpeg CLI are split into
//! access units, muxed with [`write`], and checked by ffprobe and a full decode.

use super::*;
use crate::codec::VideoCodec;
use crate::codec::av1_obus;
use crate::codec::{hevc_nal_type, video_codecs_attribute, vp8_header, vp9_header};
use crate::h264::nal_units;
use crate::media::Track;
use std::path::Path;
use std::process::Command;

fn ffmpeg(dir: &Path, args: &[&str], out: &str) -> Vec<u8> {
    let path = dir.join(out);
    let status = Command::new("/usr/bin/ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .args(args)
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args:?}");
    std::fs::read(path).unwrap()
}

/// Splits an Annex B stream at its access unit delimiters.
fn split_at_auds(stream: &[u8], is_aud: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 4 < stream.len() {
        let code = match stream[i..] {
            [0, 0, 0, 1, ..] => 4,
            [0, 0, 1, ..] => 3,
            _ => 0,
        };
        if code > 0 && is_aud(&stream[i + code..]) {
            starts.push(i);
        }
        i += code.max(1);
    }
    starts.push(stream.len());
    starts
        .windows(2)
        .map(|w| stream[w[0]..w[1]].to_vec())
        .collect()
}

/// The frames of an IVF file.
fn ivf_frames(file: &[u8]) -> Vec<Vec<u8>> {
    let mut pos = usize::from(u16::from_le_bytes([file[6], file[7]]));
    let mut out = Vec::new();
    while pos + 12 <= file.len() {
        let len = u32::from_le_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
        out.push(file[pos + 12..pos + 12 + len].to_vec());
        pos += 12 + len;
    }
    out
}

/// Splits a low-overhead AV1 stream at its temporal delimiters.
fn split_temporal_units(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for obu in av1_obus(stream) {
        let (kind, whole, _) = obu.unwrap();
        if kind == 2 || out.is_empty() {
            out.push(Vec::new());
        }
        out.last_mut().unwrap().extend_from_slice(whole);
    }
    out
}

fn av1_is_key(tu: &[u8]) -> bool {
    av1_obus(tu).flatten().any(|(kind, _, payload)| {
        // show_existing_frame 0, frame_type KEY_FRAME (0).
        matches!(kind, 3 | 6) && payload.first().is_some_and(|b| b & 0xE0 == 0)
    })
}

/// Encodes 2 s of 320x240 test pattern at 30 fps (a keyframe every 15 frames) and returns
/// its access units with keyframe flags.
fn encode(codec: VideoCodec, dir: &Path) -> Vec<(Vec<u8>, bool)> {
    let src = "testsrc2=size=320x240:rate=30";
    let common = ["-t", "2", "-g", "15", "-pix_fmt", "yuv420p"];
    let run = |enc: &[&str], out| ffmpeg(dir, &[&[src][..], &common, enc].concat(), out);
    match codec {
        VideoCodec::H264 => {
            let s = run(
                &[
                    "-c:v",
                    "libx264",
                    "-bf",
                    "0",
                    "-x264-params",
                    "aud=1",
                    "-f",
                    "h264",
                ],
                "v.h264",
            );
            split_at_auds(&s, |u| u.first().is_some_and(|b| b & 0x1F == 9))
                .into_iter()
                .map(|au| {
                    let key = nal_units(&au).any(|u| u.first().is_some_and(|b| b & 0x1F == 5));
                    (au, key)
                })
                .collect()
        }
        VideoCodec::Hevc => {
            let s = run(
                &[
                    "-c:v",
                    "libx265",
                    "-x265-params",
                    "aud=1:bframes=0:log-level=error",
                    "-f",
                    "hevc",
                ],
                "v.hevc",
            );
            split_at_auds(&s, |u| hevc_nal_type(u) == Some(35))
                .into_iter()
                .map(|au| {
                    let key = nal_units(&au)
                        .any(|u| hevc_nal_type(u).is_some_and(|t| (16..=23).contains(&t)));
                    (au, key)
                })
                .collect()
        }
        VideoCodec::Vp8 => ivf_frames(&run(&["-c:v", "libvpx", "-f", "ivf"], "v.ivf"))
            .into_iter()
            .map(|f| {
                let key = vp8_header(&f).is_ok();
                (f, key)
            })
            .collect(),
        VideoCodec::Vp9 => ivf_frames(&run(&["-c:v", "libvpx-vp9", "-f", "ivf"], "v.ivf"))
            .into_iter()
            .map(|f| {
                let key = vp9_header(&f).is_ok();
                (f, key)
            })
            .collect(),
        VideoCodec::Av1 => split_temporal_units(&run(
            &[
                "-c:v",
                "libsvtav1",
                "-preset",
                "12",
                "-svtav1-params",
                "lp=1",
                "-f",
                "obu",
            ],
            "v.obu",
        ))
        .into_iter()
        .map(|tu| {
            let key = av1_is_key(&tu);
            (tu, key)
        })
        .collect(),
    }
}

/// 2 s of 48 kHz stereo AAC as ADTS frames.
fn encode_aac(dir: &Path) -> Vec<Vec<u8>> {
    let s = ffmpeg(
        dir,
        &[
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "2",
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-f",
            "adts",
        ],
        "a.aac",
    );
    let mut out = Vec::new();
    let mut rest = &s[..];
    while rest.len() > 7 {
        let len = (usize::from(rest[3] & 3) << 11)
            | (usize::from(rest[4]) << 3)
            | usize::from(rest[5] >> 5);
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    out
}

fn packets(video: &[(Vec<u8>, bool)], audio: &[Vec<u8>]) -> Vec<Packet> {
    let mut out: Vec<Packet> = video
        .iter()
        .enumerate()
        .map(|(i, (au, key))| Packet {
            track: Track::Video,
            pts: i as i64 * 3000,
            dts: i as i64 * 3000,
            keyframe: *key,
            data: au.clone().into(),
        })
        .chain(audio.iter().enumerate().map(|(i, f)| Packet {
            track: Track::Audio,
            pts: i as i64 * 1920,
            dts: i as i64 * 1920,
            keyframe: true,
            data: f.clone().into(),
        }))
        .collect();
    out.sort_by_key(|p| (p.dts, p.track == Track::Audio));
    out
}

/// ffprobe's streams and packets, as JSON.
fn probe(path: &Path) -> serde_json::Value {
    let out = Command::new("/usr/bin/ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_packets",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn decode_errors(path: &Path) -> String {
    let out = Command::new("/usr/bin/ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Checks streams, per-packet keyframe flags, and a clean decode.
fn check_file(path: &Path, codec_name: &str, keys: &[bool], audio_frames: usize) {
    let v = probe(path);
    let streams = v["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(video["codec_name"], codec_name);
    assert_eq!(video["width"], 320);
    assert_eq!(video["height"], 240);
    let vindex = &video["index"];
    let packets = v["packets"].as_array().unwrap();
    let flags: Vec<bool> = packets
        .iter()
        .filter(|p| &p["stream_index"] == vindex)
        .map(|p| p["flags"].as_str().unwrap().contains('K'))
        .collect();
    assert_eq!(flags, keys, "{codec_name} keyframe flags");
    if audio_frames > 0 {
        let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
        assert_eq!(audio["codec_name"], "aac");
        assert_eq!(audio["sample_rate"], "48000");
        let n = packets
            .iter()
            .filter(|p| p["stream_index"] == audio["index"])
            .count();
        assert_eq!(n, audio_frames);
    }
    assert_eq!(decode_errors(path), "", "{codec_name} decode");
}

fn real_encoder(codec: VideoCodec, codec_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let video = encode(codec, dir.path());
    assert!(video.len() >= 58, "{codec:?}: {} access units", video.len());
    let audio = encode_aac(dir.path());
    let input = packets(&video, &audio);
    let seg = write(
        &VideoTrack {
            codec,
            width: 320,
            height: 240,
        },
        Some(AudioCodec::Aac),
        1,
        &input,
    )
    .unwrap();
    let path = dir.path().join("out.mp4");
    std::fs::write(&path, seg.to_file()).unwrap();
    let keys: Vec<bool> = video.iter().map(|(_, k)| *k).collect();
    assert!(
        keys[0] && keys.iter().filter(|k| **k).count() >= 2,
        "{codec:?} {keys:?}"
    );
    check_file(&path, codec_name, &keys, audio.len());

    // The codec string agrees with ffprobe's profile and level.
    let attr = video_codecs_attribute(codec, &video[0].0).unwrap();
    let v = probe(&path);
    let stream = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap()
        .clone();
    let level = stream["level"].as_i64().unwrap();
    let expected = match codec {
        VideoCodec::H264 => {
            assert_eq!(stream["profile"], "High");
            format!("avc1.6400{level:02X}")
        }
        VideoCodec::Hevc => {
            assert_eq!(stream["profile"], "Main");
            format!("hvc1.1.6.L{level}.")
        }
        VideoCodec::Vp8 => "vp8".to_owned(),
        VideoCodec::Vp9 => {
            assert_eq!(stream["profile"], "Profile 0");
            "vp09.00.20.08".to_owned()
        }
        VideoCodec::Av1 => {
            assert_eq!(stream["profile"], "Main");
            format!("av01.0.{level:02}M.08")
        }
    };
    assert!(
        attr.starts_with(&expected),
        "{codec:?}: {attr} vs {expected}"
    );
    eprintln!(
        "{codec:?}: CODECS {attr}, {} packets, ffprobe level {level}",
        input.len()
    );

    // And our own reader gets the packets back.
    let back = read(&seg.to_file()).unwrap();
    assert_eq!(back.media.packets.len(), input.len());
    for (a, b) in back.media.packets.iter().zip(&input) {
        assert_eq!(
            (a.track, a.pts, a.dts, a.keyframe),
            (b.track, b.pts, b.dts, b.keyframe)
        );
        if codec.needs_fmp4() {
            assert_eq!(a.data, b.data);
        } else {
            let units = |d: &[u8]| -> Vec<Vec<u8>> {
                nal_units(d)
                    .filter(|u| !matches!(u.first(), Some(0x09) | Some(0x46)))
                    .map(<[u8]>::to_vec)
                    .collect()
            };
            assert_eq!(units(&a.data), units(&b.data));
        }
    }
}

#[test]
fn real_h264_plays() {
    real_encoder(VideoCodec::H264, "h264");
}

#[test]
fn real_hevc_plays() {
    real_encoder(VideoCodec::Hevc, "hevc");
}

#[test]
fn real_vp8_plays() {
    real_encoder(VideoCodec::Vp8, "vp8");
}

#[test]
fn real_vp9_plays() {
    real_encoder(VideoCodec::Vp9, "vp9");
}

#[test]
fn real_av1_plays() {
    real_encoder(VideoCodec::Av1, "av1");
}

#[test]
fn real_segments_concatenate() {
    let dir = tempfile::tempdir().unwrap();
    let video = encode(VideoCodec::H264, dir.path());
    let input = packets(&video, &encode_aac(dir.path()));
    // The second keyframe starts the second segment.
    let cut = (0..input.len())
        .filter(|i| input[*i].track == Track::Video && input[*i].keyframe)
        .nth(1)
        .unwrap();
    let track = VideoTrack {
        codec: VideoCodec::H264,
        width: 320,
        height: 240,
    };
    let first = write(&track, Some(AudioCodec::Aac), 1, &input[..cut]).unwrap();
    let second = write(&track, Some(AudioCodec::Aac), 2, &input[cut..]).unwrap();
    let path = dir.path().join("two.mp4");
    std::fs::write(
        &path,
        [&first.init[..], &first.fragment, &second.fragment].concat(),
    )
    .unwrap();
    let keys: Vec<bool> = video.iter().map(|(_, k)| *k).collect();
    let audio = input.iter().filter(|p| p.track == Track::Audio).count();
    check_file(&path, "h264", &keys, audio);
    assert_eq!(
        read(&std::fs::read(&path).unwrap())
            .unwrap()
            .media
            .packets
            .len(),
        input.len()
    );
}
