//! encode → decode round trips for every message of `proto/`, over random contents, and
//! header round trips through the HTTP codecs.
#![allow(clippy::unwrap_used)]

use proptest::collection::{btree_map, hash_map, vec};
use proptest::prelude::*;
use prost::Message;
use reel_net::proto::{self, capabilities as pc};

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..40)
}
fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}
fn small_i32() -> impl Strategy<Value = i32> {
    // Enum fields carry any i32 on the wire (open enums); include unknown values.
    -2..8i32
}

prop_compose! {
    fn price_info()(price_per_unit in any::<i64>(), pixels_per_unit in any::<i64>(),
                    capability in any::<u32>(), constraint in text()) -> proto::PriceInfo {
        proto::PriceInfo { price_per_unit, pixels_per_unit, capability, constraint }
    }
}
prop_compose! {
    fn model_constraint()(warm in any::<bool>(), capacity in any::<u32>(), runner_version in text(),
                          capacity_in_use in any::<u32>()) -> pc::capability_constraints::ModelConstraint {
        pc::capability_constraints::ModelConstraint { warm, capacity, runner_version, capacity_in_use }
    }
}
prop_compose! {
    fn capabilities()(bitstring in vec(any::<u64>(), 0..4), mandatories in vec(any::<u64>(), 0..3),
                      capacities in hash_map(any::<u32>(), any::<u32>(), 0..4), version in text(),
                      constraints in proptest::option::of(constraints())) -> proto::Capabilities {
        proto::Capabilities { bitstring, mandatories, capacities, version, constraints }
    }
}
prop_compose! {
    fn constraints()(min_version in text(),
                     per_capability in hash_map(any::<u32>(),
                        hash_map(text(), model_constraint(), 0..3)
                            .prop_map(|models| pc::CapabilityConstraints { models }), 0..3))
                     -> pc::Constraints {
        pc::Constraints { min_version, per_capability }
    }
}
prop_compose! {
    fn auth_token()(token in bytes(), session_id in text(), expiration in any::<i64>()) -> proto::AuthToken {
        proto::AuthToken { token, session_id, expiration }
    }
}
prop_compose! {
    fn s3()(host in text(), key in text(), policy in text(), signature in text(), credential in text(),
            x_amz_date in text()) -> proto::S3osInfo {
        proto::S3osInfo { host, key, policy, signature, credential, x_amz_date }
    }
}
prop_compose! {
    fn os_info()(storage_type in small_i32(), s3info in proptest::option::of(s3())) -> proto::OsInfo {
        proto::OsInfo { storage_type, s3info }
    }
}
prop_compose! {
    fn video_profile()(name in text(), width in any::<i32>(), height in any::<i32>(), bitrate in any::<i32>(),
                       fps in any::<u32>(), format in small_i32(), fps_den in any::<u32>(),
                       profile in small_i32(), gop in any::<i32>(), encoder in small_i32(),
                       color_depth in any::<i32>(), chroma_format in small_i32(), quality in any::<u32>())
                       -> proto::VideoProfile {
        proto::VideoProfile { name, width, height, bitrate, fps, format, fps_den, profile, gop, encoder,
                              color_depth, chroma_format, quality }
    }
}
prop_compose! {
    fn seg_data()(manifest_id in bytes(), seq in any::<i64>(), hash in bytes(), profiles in bytes(), sig in bytes(),
                  duration in any::<i32>(), capabilities in proptest::option::of(capabilities()),
                  auth_token in proptest::option::of(auth_token()), calc_perceptual_hash in any::<bool>(),
                  storage in vec(os_info(), 0..2), full_profiles in vec(video_profile(), 0..2),
                  full_profiles2 in vec(video_profile(), 0..2), full_profiles3 in vec(video_profile(), 0..3),
                  segment_parameters in proptest::option::of((any::<u64>(), any::<u64>())
                      .prop_map(|(from, to)| proto::SegParameters { from, to })),
                  force_session_reinit in any::<bool>()) -> proto::SegData {
        proto::SegData { manifest_id, seq, hash, profiles, sig, duration, capabilities, auth_token,
                         calc_perceptual_hash, storage, full_profiles, full_profiles2, full_profiles3,
                         segment_parameters, force_session_reinit }
    }
}
prop_compose! {
    fn expiration_params()(creation_round in any::<i64>(), creation_round_block_hash in bytes())
                          -> proto::TicketExpirationParams {
        proto::TicketExpirationParams { creation_round, creation_round_block_hash }
    }
}
prop_compose! {
    fn ticket_params()(recipient in bytes(), face_value in bytes(), win_prob in bytes(),
                       recipient_rand_hash in bytes(), seed in bytes(), expiration_block in bytes(),
                       expiration_params in proptest::option::of(expiration_params())) -> proto::TicketParams {
        proto::TicketParams { recipient, face_value, win_prob, recipient_rand_hash, seed, expiration_block,
                              expiration_params }
    }
}
prop_compose! {
    fn sender_params()(sender_nonce in any::<u32>(), sig in bytes()) -> proto::TicketSenderParams {
        proto::TicketSenderParams { sender_nonce, sig }
    }
}
prop_compose! {
    fn payment()(ticket_params in proptest::option::of(ticket_params()), sender in bytes(),
                 expiration_params in proptest::option::of(expiration_params()),
                 ticket_sender_params in vec(sender_params(), 0..5),
                 expected_price in proptest::option::of(price_info())) -> proto::Payment {
        proto::Payment { ticket_params, sender, expiration_params, ticket_sender_params, expected_price }
    }
}
prop_compose! {
    fn gpu()(id in text(), name in text(), major in any::<u32>(), minor in any::<u32>(),
             memory_free in any::<i64>(), memory_total in any::<i64>()) -> proto::GpuComputeInfo {
        proto::GpuComputeInfo { id, name, major, minor, memory_free, memory_total }
    }
}
prop_compose! {
    fn hardware()(pipeline in text(), model_id in text(), gpu_info in hash_map(text(), gpu(), 0..3))
                 -> proto::HardwareInformation {
        proto::HardwareInformation { pipeline, model_id, gpu_info }
    }
}
prop_compose! {
    fn orchestrator_info()(transcoder in text(), ticket_params in proptest::option::of(ticket_params()),
                           price_info in proptest::option::of(price_info()), address in bytes(),
                           capabilities in proptest::option::of(capabilities()),
                           auth_token in proptest::option::of(auth_token()), hardware in vec(hardware(), 0..2),
                           storage in vec(os_info(), 0..2), capabilities_prices in vec(price_info(), 0..3),
                           nodes in vec(text(), 0..3)) -> proto::OrchestratorInfo {
        proto::OrchestratorInfo { transcoder, ticket_params, price_info, address, capabilities, auth_token,
                                  hardware, storage, capabilities_prices, nodes }
    }
}
prop_compose! {
    fn transcoded()(url in text(), pixels in any::<i64>(), perceptual_hash_url in text())
                   -> proto::TranscodedSegmentData {
        proto::TranscodedSegmentData { url, pixels, perceptual_hash_url }
    }
}
fn transcode_result() -> impl Strategy<Value = proto::TranscodeResult> {
    use proto::transcode_result::Result as R;
    let result = prop_oneof![
        Just(None),
        text().prop_map(|e| Some(R::Error(e))),
        (vec(transcoded(), 0..4), bytes())
            .prop_map(|(segments, sig)| Some(R::Data(proto::TranscodeData { segments, sig }))),
    ];
    (
        any::<i64>(),
        result,
        proptest::option::of(orchestrator_info()),
    )
        .prop_map(|(seq, result, info)| proto::TranscodeResult { seq, result, info })
}

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(
    m: &M,
) -> Result<(), TestCaseError> {
    let bytes = m.encode_to_vec();
    prop_assert_eq!(bytes.len(), m.encoded_len());
    let back = M::decode(bytes.as_slice()).unwrap();
    prop_assert_eq!(&back, m);
    // Re-encoding the decoded message gives the same bytes except for map order, which
    // protobuf leaves free; compare lengths there.
    prop_assert_eq!(back.encode_to_vec().len(), bytes.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn price_info_rt(m in price_info()) { round_trip(&m)?; }
    #[test]
    fn capabilities_rt(m in capabilities()) { round_trip(&m)?; }
    #[test]
    fn constraints_rt(m in constraints()) { round_trip(&m)?; }
    #[test]
    fn model_constraint_rt(m in model_constraint()) { round_trip(&m)?; }
    #[test]
    fn capability_constraints_rt(models in hash_map(text(), model_constraint(), 0..4)) {
        round_trip(&pc::CapabilityConstraints { models })?;
    }
    #[test]
    fn auth_token_rt(m in auth_token()) { round_trip(&m)?; }
    #[test]
    fn os_info_rt(m in os_info()) { round_trip(&m)?; }
    #[test]
    fn s3_os_info_rt(m in s3()) { round_trip(&m)?; }
    #[test]
    fn video_profile_rt(m in video_profile()) { round_trip(&m)?; }
    #[test]
    fn seg_data_rt(m in seg_data()) { round_trip(&m)?; }
    #[test]
    fn seg_parameters_rt(from in any::<u64>(), to in any::<u64>()) {
        round_trip(&proto::SegParameters { from, to })?;
    }
    #[test]
    fn ticket_params_rt(m in ticket_params()) { round_trip(&m)?; }
    #[test]
    fn expiration_params_rt(m in expiration_params()) { round_trip(&m)?; }
    #[test]
    fn sender_params_rt(m in sender_params()) { round_trip(&m)?; }
    #[test]
    fn payment_rt(m in payment()) { round_trip(&m)?; }
    #[test]
    fn orchestrator_info_rt(m in orchestrator_info()) { round_trip(&m)?; }
    #[test]
    fn orchestrator_request_rt(address in bytes(), sig in bytes(),
                               capabilities in proptest::option::of(capabilities()),
                               ignore_capacity_check in any::<bool>()) {
        round_trip(&proto::OrchestratorRequest { address, sig, capabilities, ignore_capacity_check })?;
    }
    #[test]
    fn transcoded_segment_data_rt(m in transcoded()) { round_trip(&m)?; }
    #[test]
    fn transcode_data_rt(segments in vec(transcoded(), 0..4), sig in bytes()) {
        round_trip(&proto::TranscodeData { segments, sig })?;
    }
    #[test]
    fn transcode_result_rt(m in transcode_result()) { round_trip(&m)?; }
    #[test]
    fn payment_result_rt(info in proptest::option::of(orchestrator_info())) {
        round_trip(&proto::PaymentResult { info })?;
    }
    #[test]
    fn register_request_rt(secret in text(), capacity in any::<i64>(),
                           capabilities in proptest::option::of(capabilities())) {
        round_trip(&proto::RegisterRequest { secret, capacity, capabilities })?;
    }
    #[test]
    fn notify_segment_rt(url in text(), seg_data in proptest::option::of(seg_data()), task_id in any::<i64>(),
                         profiles in bytes(), orch_id in text()) {
        round_trip(&proto::NotifySegment { url, seg_data, task_id, profiles, orch_id })?;
    }
    #[test]
    fn register_ai_worker_rt(secret in text(), capabilities in proptest::option::of(capabilities()),
                             hardware in vec(hardware(), 0..3)) {
        round_trip(&proto::RegisterAiWorkerRequest { secret, capabilities, hardware })?;
    }
    #[test]
    fn ai_job_rt(pipeline in text(), request_data in bytes(), task_id in any::<i64>(), some in any::<bool>()) {
        let job = proto::AiJobData { pipeline, request_data };
        round_trip(&job)?;
        round_trip(&proto::NotifyAiJob { ai_job_data: some.then_some(job), task_id })?;
    }
    #[test]
    fn gpu_rt(m in gpu()) { round_trip(&m)?; }
    #[test]
    fn hardware_rt(m in hardware()) { round_trip(&m)?; }
    #[test]
    fn ping_and_end_session_rt(value in bytes(), token in proptest::option::of(auth_token())) {
        round_trip(&proto::PingPong { value })?;
        round_trip(&proto::EndTranscodingSessionRequest { auth_token: token })?;
        round_trip(&proto::EndTranscodingSessionResponse {})?;
    }
    #[test]
    fn redeemer_rt(tp in proptest::option::of(ticket_params()), sender in bytes(),
                   ep in proptest::option::of(expiration_params()), sp in proptest::option::of(sender_params()),
                   recipient_rand in bytes(), max_float in bytes()) {
        round_trip(&proto::Ticket { ticket_params: tp, sender: sender.clone(), expiration_params: ep,
                                    sender_params: sp, recipient_rand })?;
        round_trip(&proto::QueueTicketRes {})?;
        round_trip(&proto::MaxFloatReq { sender })?;
        round_trip(&proto::MaxFloatUpdate { max_float })?;
    }

    #[test]
    fn headers_round_trip(seg in seg_data(), pay in payment()) {
        use reel_net::http::*;
        let h = segment_request_headers(&seg, &pay, BodyKind::Inline);
        let big = Limits { max_header_bytes: usize::MAX, ..Limits::default() };
        let back_seg: proto::SegData =
            decode_header(SEGMENT_HEADER, h[SEGMENT_HEADER].as_bytes(), big.max_header_bytes).unwrap();
        prop_assert_eq!(back_seg, seg);
        let back_pay = parse_payment_header(&h, &big).unwrap();
        // An all-default payment encodes to zero bytes, i.e. an empty header: no payment.
        if pay == proto::Payment::default() {
            prop_assert_eq!(back_pay, None);
        } else {
            prop_assert_eq!(back_pay, Some(pay));
        }
    }

    #[test]
    fn btree_sanity(m in btree_map(any::<u32>(), any::<u32>(), 0..3)) {
        // Capabilities' typed form keeps maps ordered; converting back and forth keeps them.
        let p = proto::Capabilities { capacities: m.clone().into_iter().collect(), ..Default::default() };
        let c = reel_net::capabilities::Capabilities::from_proto(&p).unwrap();
        prop_assert_eq!(c.capacities, m);
    }
}
