//! Golden bytes: hand-built messages whose encoding is written out here from the field
//! numbers and wire types of docs/compatibility.md#protobuf-messages-and-grpc-services (tag = field
//! << 3 | wire type; varints little-endian base-128). If a field number or type in `proto/` drifts
//! from go-livepeer's, these fail.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use prost::Message;
use reel_net::proto;

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.split_whitespace().collect();
    alloy_primitives::hex::decode(clean).unwrap()
}

/// Encodes `msg`, compares with `want`, and decodes `want` back to `msg`.
fn golden<M: Message + Default + PartialEq + std::fmt::Debug>(msg: &M, want: &str) {
    let want = hex(want);
    assert_eq!(
        alloy_primitives::hex::encode(msg.encode_to_vec()),
        alloy_primitives::hex::encode(&want),
        "encoding of {msg:?}"
    );
    assert_eq!(&M::decode(want.as_slice()).unwrap(), msg);
}

#[test]
fn ticket_sender_params() {
    // 1: sender_nonce uint32 = 300 → tag 08, varint ac 02
    // 2: sig bytes → tag 12, len 02, aa bb
    golden(
        &proto::TicketSenderParams {
            sender_nonce: 300,
            sig: vec![0xaa, 0xbb],
        },
        "08 ac02 12 02 aabb",
    );
}

#[test]
fn ticket_params_and_expiration_params() {
    golden(
        &proto::TicketParams {
            recipient: vec![0x11; 2],
            face_value: vec![0x01, 0x00],
            win_prob: vec![0xff],
            recipient_rand_hash: vec![0x22],
            seed: vec![0x33],
            expiration_block: vec![0x05, 0x39],
            expiration_params: Some(proto::TicketExpirationParams {
                creation_round: 1,
                creation_round_block_hash: vec![0x44],
            }),
        },
        "0a 02 1111 \
         12 02 0100 \
         1a 01 ff \
         22 01 22 \
         2a 01 33 \
         32 02 0539 \
         3a 05 08 01 12 01 44",
    );
}

#[test]
fn payment() {
    // 1 ticket_params (0a), 2 sender (12), 3 expiration_params (1a), 4 repeated sender
    // params (22 each), 5 expected_price (2a).
    golden(
        &proto::Payment {
            ticket_params: Some(proto::TicketParams {
                face_value: vec![0x07],
                ..Default::default()
            }),
            sender: vec![0xab; 3],
            expiration_params: Some(proto::TicketExpirationParams {
                creation_round: 150,
                creation_round_block_hash: vec![],
            }),
            ticket_sender_params: vec![
                proto::TicketSenderParams {
                    sender_nonce: 1,
                    sig: vec![],
                },
                proto::TicketSenderParams {
                    sender_nonce: 2,
                    sig: vec![],
                },
            ],
            expected_price: Some(proto::PriceInfo {
                price_per_unit: 1000,
                pixels_per_unit: 1,
                ..Default::default()
            }),
        },
        "0a 03 12 01 07 \
         12 03 ababab \
         1a 03 08 9601 \
         22 02 08 01 \
         22 02 08 02 \
         2a 05 08 e807 10 01",
    );
}

#[test]
fn price_info_with_negative_int64() {
    // int64 −1 is a 10-byte varint; capability uint32 3 → 18; constraint string 4 → 22.
    golden(
        &proto::PriceInfo {
            price_per_unit: -1,
            pixels_per_unit: 2,
            capability: 27,
            constraint: "m".into(),
        },
        "08 ffffffffffffffffff01 10 02 18 1b 22 01 6d",
    );
}

#[test]
fn seg_data_high_field_numbers() {
    // 1 manifestId (0a), 2 seq (10), 3 hash (1a), 4 profiles (22), 5 sig (2a), 6 duration
    // (30), 7 capabilities (3a), 8 auth_token (42), 10 calc_perceptual_hash (50),
    // 32 storage (82 02), 33 fullProfiles (8a 02), 34 fullProfiles2 (92 02),
    // 35 fullProfiles3 (9a 02), 37 segment_parameters (aa 02), 38 ForceSessionReinit (b0 02).
    let vp = |name: &str| proto::VideoProfile {
        name: name.into(),
        ..Default::default()
    };
    golden(
        &proto::SegData {
            manifest_id: b"m".to_vec(),
            seq: 2,
            hash: vec![0xee],
            profiles: vec![0x01],
            sig: vec![0x02],
            duration: 2000,
            capabilities: Some(proto::Capabilities {
                bitstring: vec![1],
                ..Default::default()
            }),
            auth_token: Some(proto::AuthToken {
                session_id: "s".into(),
                ..Default::default()
            }),
            calc_perceptual_hash: true,
            storage: vec![proto::OsInfo {
                storage_type: proto::os_info::StorageType::S3 as i32,
                s3info: None,
            }],
            full_profiles: vec![vp("a")],
            full_profiles2: vec![vp("b")],
            full_profiles3: vec![vp("c")],
            segment_parameters: Some(proto::SegParameters { from: 1, to: 2 }),
            force_session_reinit: true,
        },
        "0a 01 6d \
         10 02 \
         1a 01 ee \
         22 01 01 \
         2a 01 02 \
         30 d00f \
         3a 03 0a 01 01 \
         42 03 12 01 73 \
         50 01 \
         8202 02 08 01 \
         8a02 04 8201 01 61 \
         9202 04 8201 01 62 \
         9a02 04 8201 01 63 \
         aa02 04 08 01 10 02 \
         b002 01",
    );
}

#[test]
fn video_profile_fields_16_to_28() {
    // name 16 → 82 01; width 17 → 88 01; height 18 → 90 01; bitrate 19 → 98 01;
    // fps 20 → a0 01; format 21 → a8 01; fpsDen 22 → b0 01; profile 23 → b8 01;
    // gop 24 → c0 01; encoder 25 → c8 01; colorDepth 26 → d0 01; chromaFormat 27 → d8 01;
    // quality 28 → e0 01.
    use proto::video_profile::*;
    golden(
        &proto::VideoProfile {
            name: "P".into(),
            width: 426,
            height: 240,
            bitrate: 600_000,
            fps: 30,
            format: Format::Mp4 as i32,
            fps_den: 1001,
            profile: Profile::H264ConstrainedHigh as i32,
            gop: 2000,
            encoder: VideoCodec::Vp9 as i32,
            color_depth: 8,
            chroma_format: ChromaSubsampling::Chroma444 as i32,
            quality: 23,
        },
        "8201 01 50 \
         8801 aa03 \
         9001 f001 \
         9801 c0cf24 \
         a001 1e \
         a801 01 \
         b001 e907 \
         b801 04 \
         c001 d00f \
         c801 03 \
         d001 08 \
         d801 02 \
         e001 17",
    );
}

#[test]
fn enum_values() {
    use proto::video_profile::*;
    assert_eq!(Format::Mpegts as i32, 0);
    assert_eq!(Format::Mp4 as i32, 1);
    assert_eq!(Profile::EncoderDefault as i32, 0);
    assert_eq!(Profile::H264Baseline as i32, 1);
    assert_eq!(Profile::H264Main as i32, 2);
    assert_eq!(Profile::H264High as i32, 3);
    assert_eq!(Profile::H264ConstrainedHigh as i32, 4);
    assert_eq!(VideoCodec::H264 as i32, 0);
    assert_eq!(VideoCodec::H265 as i32, 1);
    assert_eq!(VideoCodec::Vp8 as i32, 2);
    assert_eq!(VideoCodec::Vp9 as i32, 3);
    assert_eq!(ChromaSubsampling::Chroma420 as i32, 0);
    assert_eq!(ChromaSubsampling::Chroma422 as i32, 1);
    assert_eq!(ChromaSubsampling::Chroma444 as i32, 2);
    use proto::os_info::StorageType;
    assert_eq!(StorageType::Direct as i32, 0);
    assert_eq!(StorageType::S3 as i32, 1);
    assert_eq!(StorageType::Google as i32, 2);
}

#[test]
fn orchestrator_info() {
    // 1 transcoder (0a), 2 ticket_params (12), 3 price_info (1a), 4 address (22),
    // 5 capabilities (2a), 6 auth_token (32), 7 hardware (3a), 32 storage (82 02),
    // 33 capabilities_prices (8a 02), 34 nodes (92 02).
    golden(
        &proto::OrchestratorInfo {
            transcoder: "h".into(),
            ticket_params: Some(proto::TicketParams {
                seed: vec![9],
                ..Default::default()
            }),
            price_info: Some(proto::PriceInfo {
                price_per_unit: 3,
                ..Default::default()
            }),
            address: vec![0xaa],
            capabilities: Some(proto::Capabilities {
                version: "1".into(),
                ..Default::default()
            }),
            auth_token: Some(proto::AuthToken {
                expiration: 1,
                ..Default::default()
            }),
            hardware: vec![proto::HardwareInformation {
                pipeline: "p".into(),
                ..Default::default()
            }],
            storage: vec![proto::OsInfo {
                storage_type: 2,
                s3info: None,
            }],
            capabilities_prices: vec![proto::PriceInfo {
                capability: 1,
                ..Default::default()
            }],
            nodes: vec!["n".into()],
        },
        "0a 01 68 \
         12 03 2a 01 09 \
         1a 02 08 03 \
         22 01 aa \
         2a 03 22 01 31 \
         32 02 18 01 \
         3a 03 0a 01 70 \
         8202 02 08 02 \
         8a02 02 18 01 \
         9202 01 6e",
    );
}

#[test]
fn capabilities_packed_repeated_and_maps() {
    use proto::capabilities::{
        CapabilityConstraints, Constraints, capability_constraints::ModelConstraint,
    };
    // bitstring: packed repeated uint64 → 0a len varints; mandatories → 12; capacities map
    // entry {1: key 08, 2: value 10} → 1a; version 22; constraints 2a.
    // ModelConstraint: warm 08, capacity 10, runnerVersion 1a, capacityInUse 20.
    golden(
        &proto::Capabilities {
            bitstring: vec![0x1001, 1 << 37],
            mandatories: vec![0x1000],
            capacities: [(27, 2)].into(),
            version: "0.9.1".into(),
            constraints: Some(Constraints {
                min_version: "0.9".into(),
                per_capability: [(
                    27,
                    CapabilityConstraints {
                        models: [(
                            "x".to_owned(),
                            ModelConstraint {
                                warm: true,
                                capacity: 1,
                                runner_version: "v".into(),
                                capacity_in_use: 1,
                            },
                        )]
                        .into(),
                    },
                )]
                .into(),
            }),
        },
        "0a 08 8120 8080808080 04 \
         12 02 8020 \
         1a 04 08 1b 10 02 \
         22 05 302e392e31 \
         2a 1b 0a 03 302e39 \
            12 14 08 1b 12 10 \
               0a 0e 0a 01 78 12 09 08 01 10 01 1a 01 76 20 01",
    );
}

#[test]
fn map_entries_with_explicit_default_key_decode_the_same() {
    // Go writes map keys and values even when zero; prost omits them. Both must decode alike.
    let go_form = hex("1a 04 08 00 10 05");
    let c = proto::Capabilities::decode(go_form.as_slice()).unwrap();
    assert_eq!(c.capacities.get(&0), Some(&5));
}

#[test]
fn transcode_result_and_payment_result() {
    // seq 1 (08), oneof error 2 (12) / data 3 (1a), info 16 (82 01).
    golden(
        &proto::TranscodeResult {
            seq: 5,
            result: Some(proto::transcode_result::Result::Error("busy".into())),
            info: Some(proto::OrchestratorInfo {
                transcoder: "t".into(),
                ..Default::default()
            }),
        },
        "08 05 12 04 62757379 8201 03 0a 01 74",
    );
    // TranscodeData{segments (0a) [TranscodedSegmentData{url 0a, pixels 10, phash 1a}], sig 12}
    golden(
        &proto::TranscodeResult {
            seq: 0,
            result: Some(proto::transcode_result::Result::Data(
                proto::TranscodeData {
                    segments: vec![proto::TranscodedSegmentData {
                        url: "u".into(),
                        pixels: 1_000_000,
                        perceptual_hash_url: "p".into(),
                    }],
                    sig: vec![0x5a],
                },
            )),
            info: None,
        },
        "1a 0f 0a 0a 0a 01 75 10 c0843d 1a 01 70 12 01 5a",
    );
    golden(
        &proto::PaymentResult {
            info: Some(proto::OrchestratorInfo {
                nodes: vec!["a".into()],
                ..Default::default()
            }),
        },
        "8201 04 9202 01 61",
    );
}

#[test]
fn transcoder_and_ai_worker_messages() {
    // NotifySegment: url 1 (0a), segData 3 (1a), taskId 16 (80 01), profiles 17 (8a 01),
    // orchId 18 (92 01).
    golden(
        &proto::NotifySegment {
            url: "u".into(),
            seg_data: Some(proto::SegData {
                seq: 1,
                ..Default::default()
            }),
            task_id: 7,
            profiles: vec![0xab],
            orch_id: "o".into(),
        },
        "0a 01 75 1a 02 10 01 8001 07 8a01 01 ab 9201 01 6f",
    );
    golden(
        &proto::RegisterRequest {
            secret: "s".into(),
            capacity: 10,
            capabilities: Some(proto::Capabilities::default()),
        },
        "0a 01 73 10 0a 1a 00",
    );
    golden(
        &proto::RegisterAiWorkerRequest {
            secret: "s".into(),
            capabilities: None,
            hardware: vec![proto::HardwareInformation {
                pipeline: String::new(),
                model_id: "m".into(),
                gpu_info: [(
                    "0".to_owned(),
                    proto::GpuComputeInfo {
                        id: "g".into(),
                        name: "n".into(),
                        major: 8,
                        minor: 9,
                        memory_free: 1,
                        memory_total: 2,
                    },
                )]
                .into(),
            }],
        },
        // gpu_info map entry: key 0a "0", value 12 GPUComputeInfo{id 0a, name 12, major 20,
        // minor 28, memory_free 30, memory_total 38}.
        "0a 01 73 1a 18 12 01 6d 1a 13 0a 01 30 12 0e 0a 01 67 12 01 6e 20 08 28 09 30 01 38 02",
    );
    golden(
        &proto::NotifyAiJob {
            ai_job_data: Some(proto::AiJobData {
                pipeline: "p".into(),
                request_data: b"{}".to_vec(),
            }),
            task_id: 3,
        },
        "0a 07 0a 01 70 12 02 7b7d 10 03",
    );
}

#[test]
fn small_messages() {
    golden(
        &proto::OrchestratorRequest {
            address: vec![1],
            sig: vec![2],
            capabilities: Some(proto::Capabilities::default()),
            ignore_capacity_check: true,
        },
        "0a 01 01 12 01 02 1a 00 20 01",
    );
    golden(
        &proto::AuthToken {
            token: vec![1],
            session_id: "a".into(),
            expiration: 1_700_000_000,
        },
        "0a 01 01 12 01 61 18 80e2cfaa06",
    );
    golden(
        &proto::OsInfo {
            storage_type: 1,
            s3info: Some(proto::S3osInfo {
                host: "h".into(),
                key: "k".into(),
                policy: "p".into(),
                signature: "s".into(),
                credential: "c".into(),
                x_amz_date: "d".into(),
            }),
        },
        "08 01 8201 12 0a 01 68 12 01 6b 1a 01 70 22 01 73 2a 01 63 32 01 64",
    );
    golden(&proto::PingPong { value: vec![7] }, "0a 01 07");
    golden(
        &proto::EndTranscodingSessionRequest {
            auth_token: Some(proto::AuthToken::default()),
        },
        "0a 00",
    );
    golden(&proto::EndTranscodingSessionResponse {}, "");
}

#[test]
fn redeemer_messages() {
    golden(
        &proto::Ticket {
            ticket_params: Some(proto::TicketParams::default()),
            sender: vec![1],
            expiration_params: Some(proto::TicketExpirationParams::default()),
            sender_params: Some(proto::TicketSenderParams {
                sender_nonce: 1,
                sig: vec![],
            }),
            recipient_rand: vec![2],
        },
        "0a 00 12 01 01 1a 00 22 02 08 01 2a 01 02",
    );
    golden(&proto::MaxFloatReq { sender: vec![3] }, "0a 01 03");
    golden(
        &proto::MaxFloatUpdate {
            max_float: vec![4, 5],
        },
        "0a 02 0405",
    );
    golden(&proto::QueueTicketRes {}, "");
}

#[test]
fn notify_segment_reserved_slots_are_skipped() {
    // A peer that still sends the retired field 2 (string job) or 33: decoding ignores them.
    let bytes = hex("12 03 6a6f62 8a02 00 0a 01 75");
    let n = proto::NotifySegment::decode(bytes.as_slice()).unwrap();
    assert_eq!(n.url, "u");
    let text = include_str!("../proto/lp_rpc.proto");
    assert!(text.contains("reserved 2, 33;"));
}

#[test]
fn service_paths() {
    // gRPC method paths are /<package>.<Service>/<Method>: they must match go-livepeer's.
    let text = include_str!("../proto/lp_rpc.proto");
    assert!(text.contains("package net;"));
    for rpc in [
        "rpc GetOrchestrator(OrchestratorRequest) returns (OrchestratorInfo);",
        "rpc EndTranscodingSession(EndTranscodingSessionRequest) returns (EndTranscodingSessionResponse);",
        "rpc Ping(PingPong) returns (PingPong);",
        "rpc RegisterTranscoder(RegisterRequest) returns (stream NotifySegment);",
        "rpc RegisterAIWorker(RegisterAIWorkerRequest) returns (stream NotifyAIJob);",
    ] {
        assert!(text.contains(rpc), "{rpc}");
    }
    let redeemer = include_str!("../proto/redeemer.proto");
    assert!(redeemer.contains("rpc MonitorMaxFloat(MaxFloatReq) returns (stream MaxFloatUpdate)"));
}
