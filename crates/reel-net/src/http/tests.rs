use super::*;
use crate::sig::EthSigner;
use crate::signed;
use alloy_primitives::hex;
use alloy_primitives::keccak256;
use http::StatusCode;

fn seg(body: &[u8]) -> proto::SegData {
    proto::SegData {
        manifest_id: b"manifest".to_vec(),
        seq: 3,
        hash: keccak256(body).to_vec(),
        duration: 2000,
        ..Default::default()
    }
}

#[test]
fn segment_request_round_trip() {
    let body = b"\x47 segment bytes";
    let signer = EthSigner::from_bytes(&[7u8; 32]).unwrap();
    let mut sd = seg(body);
    signed::sign_seg_data(&signer, &mut sd).unwrap();
    let payment = proto::Payment {
        sender: signer.address().to_vec(),
        ticket_sender_params: vec![proto::TicketSenderParams {
            sender_nonce: 1,
            sig: vec![1; 65],
        }],
        ..Default::default()
    };
    let headers = segment_request_headers(&sd, &payment, BodyKind::Inline);
    assert_eq!(headers[CONTENT_TYPE], CONTENT_TYPE_SEGMENT);
    let req = parse_segment_request(&headers, &Limits::default()).unwrap();
    assert_eq!(req.seg_data, sd);
    assert_eq!(req.payment, Some(payment));
    assert_eq!(req.body, BodyKind::Inline);
    verify_body_hash(&req.seg_data, body).unwrap();
    signed::verify_seg_data(&req.seg_data, signer.address()).unwrap();
}

#[test]
fn flipped_body_byte_is_403() {
    let body = b"0123456789".to_vec();
    let sd = seg(&body);
    let mut flipped = body;
    flipped[4] ^= 1;
    let err = verify_body_hash(&sd, &flipped).unwrap_err();
    assert!(matches!(err, NetError::BodyHashMismatch { .. }));
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
}

#[test]
fn missing_or_empty_payment_is_none() {
    let mut h = HeaderMap::new();
    h.insert(SEGMENT_HEADER, encode_header(&seg(b"x")));
    let req = parse_segment_request(&h, &Limits::default()).unwrap();
    assert_eq!(req.payment, None);
    h.insert(PAYMENT_HEADER, HeaderValue::from_static(""));
    assert_eq!(
        parse_segment_request(&h, &Limits::default())
            .unwrap()
            .payment,
        None
    );
}

#[test]
fn bad_headers_get_specific_errors_and_statuses() {
    let limits = Limits::default();
    let mut h = HeaderMap::new();
    let err = parse_segment_request(&h, &limits).unwrap_err();
    assert_eq!(
        err,
        NetError::MissingHeader {
            header: SEGMENT_HEADER
        }
    );
    assert_eq!(err.status(), StatusCode::FORBIDDEN);

    h.insert(PAYMENT_HEADER, HeaderValue::from_static("!!not base64!!"));
    let err = parse_segment_request(&h, &limits).unwrap_err();
    assert!(matches!(err, NetError::Base64 { .. }));
    assert_eq!(err.status(), StatusCode::PAYMENT_REQUIRED);

    // Valid base64 of bytes that are not a protobuf Payment (field 1 wire type 7).
    h.insert(PAYMENT_HEADER, HeaderValue::from_static("D/8="));
    let err = parse_segment_request(&h, &limits).unwrap_err();
    assert!(matches!(err, NetError::Protobuf { .. }));
    assert_eq!(err.status(), StatusCode::PAYMENT_REQUIRED);

    let big = "A".repeat(limits.max_header_bytes + 4);
    h.insert(PAYMENT_HEADER, HeaderValue::from_str(&big).unwrap());
    let err = parse_segment_request(&h, &limits).unwrap_err();
    assert!(matches!(err, NetError::TooLarge { .. }));
    assert_eq!(err.status(), StatusCode::PAYMENT_REQUIRED);
}

#[test]
fn seg_data_bounds() {
    let limits = Limits::default();
    let ok = seg(b"x");
    validate_seg_data(&ok, &limits).unwrap();
    for (bad, field) in [
        (
            proto::SegData {
                duration: -1,
                ..ok.clone()
            },
            "SegData.duration",
        ),
        (
            proto::SegData {
                duration: MAX_SEGMENT_DURATION_MS + 1,
                ..ok.clone()
            },
            "SegData.duration",
        ),
        (
            proto::SegData {
                seq: -5,
                ..ok.clone()
            },
            "SegData.seq",
        ),
        (
            proto::SegData {
                manifest_id: vec![],
                ..ok.clone()
            },
            "SegData.manifestId",
        ),
    ] {
        match validate_seg_data(&bad, &limits).unwrap_err() {
            NetError::Invalid { field: f, .. } => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    let short_hash = proto::SegData {
        hash: vec![0; 31],
        ..ok.clone()
    };
    assert!(matches!(
        validate_seg_data(&short_hash, &limits),
        Err(NetError::FieldLength { got: 31, .. })
    ));
    let many = proto::SegData {
        full_profiles3: vec![proto::VideoProfile::default(); 33],
        ..ok
    };
    assert!(matches!(
        validate_seg_data(&many, &limits),
        Err(NetError::TooLarge { .. })
    ));
}

#[test]
fn body_limits_and_uri_bodies() {
    let limits = Limits {
        max_segment_bytes: 10,
        ..Limits::default()
    };
    check_body_len(BodyKind::Inline, 10, &limits).unwrap();
    let err = check_body_len(BodyKind::Inline, 11, &limits).unwrap_err();
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let uri = parse_segment_uri(b"https://os.example/seg/1.ts\n", &limits).unwrap();
    assert_eq!(uri.host(), Some("os.example"));
    for bad in [
        &b"ftp://x/y"[..],
        b"/relative/path",
        b"\xff\xfe",
        b"http://",
    ] {
        assert!(parse_segment_uri(bad, &limits).is_err(), "{bad:?}");
    }
    let long = format!("http://h/{}", "a".repeat(limits.max_uri_bytes));
    assert!(matches!(
        parse_segment_uri(long.as_bytes(), &limits),
        Err(NetError::TooLarge { .. })
    ));

    let mut h = HeaderMap::new();
    h.insert(SEGMENT_HEADER, encode_header(&seg(b"x")));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_URI));
    assert_eq!(
        parse_segment_request(&h, &limits).unwrap().body,
        BodyKind::Uri
    );
}

#[test]
fn transcode_result_body() {
    let r = proto::TranscodeResult {
        seq: 9,
        result: Some(proto::transcode_result::Result::Data(
            proto::TranscodeData {
                segments: vec![proto::TranscodedSegmentData {
                    url: "https://o/stream/x/P240p30fps16x9/9.ts".into(),
                    pixels: 426 * 240 * 60,
                    perceptual_hash_url: String::new(),
                }],
                sig: vec![2; 65],
            },
        )),
        info: None,
    };
    let bytes = encode_transcode_result(&r);
    assert_eq!(
        decode_transcode_result(&bytes, &Limits::default()).unwrap(),
        r
    );
    let tiny = Limits {
        max_result_bytes: 4,
        ..Limits::default()
    };
    assert!(decode_transcode_result(&bytes, &tiny).is_err());
    let e = error_result(4, "OrchestratorBusy", None);
    let back = decode_transcode_result(&encode_transcode_result(&e), &Limits::default()).unwrap();
    assert_eq!(
        back.result,
        Some(proto::transcode_result::Result::Error(
            "OrchestratorBusy".into()
        ))
    );
    let p = proto::PaymentResult { info: None };
    assert_eq!(
        decode_payment_result(&encode_payment_result(&p), &Limits::default()).unwrap(),
        p
    );
}

#[test]
fn segment_hash_is_keccak256() {
    for len in [0usize, 1, 135, 136, 137, 100_000] {
        let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
        assert_eq!(segment_hash(&body), keccak256(&body), "{len}");
    }
}

#[test]
fn header_value_is_standard_base64_of_the_protobuf() {
    // PingPong{value: [0xfb, 0xff]} = 0a 02 fb ff → standard base64 "CgL7/w==" ('+' '/' '=').
    let v = encode_header(&proto::PingPong {
        value: hex!("fbff").to_vec(),
    });
    assert_eq!(v, "CgL7/w==");
}
