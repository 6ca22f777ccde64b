use super::*;

#[test]
fn ids_are_the_upstream_ids() {
    assert_eq!(Capability::H264.id(), 0);
    assert_eq!(Capability::GopSize.id(), 11);
    assert_eq!(Capability::AuthToken.id(), 12);
    assert_eq!(Capability::SceneClassification.id(), 13);
    assert_eq!(Capability::SegmentSlicing.id(), 26);
    assert_eq!(Capability::TextToImage.id(), 27);
    assert_eq!(Capability::LiveVideoToVideo.id(), 35);
    assert_eq!(Capability::Byoc.id(), 37);
    assert_eq!(Capability::ALL.len(), 38);
    for (i, c) in Capability::ALL.iter().enumerate() {
        assert_eq!(c.id() as usize, i);
        assert_eq!(Capability::from_id(c.id()), Some(*c));
    }
    assert_eq!(Capability::from_id(38), None);
}

#[test]
fn bit_layout() {
    let s: CapabilitySet = [Capability::H264, Capability::AuthToken, Capability::Byoc]
        .into_iter()
        .collect();
    assert_eq!(s.words(), &[(1 << 0) | (1 << 12) | (1 << 37)]);
    let mut big = CapabilitySet::new();
    big.insert_id(64);
    big.insert_id(130);
    assert_eq!(big.words(), &[0, 1, 1 << 2]);
    assert_eq!(CapabilitySet::legacy().words(), &[0xfff]);
    assert!(CapabilitySet::from_words(&[0; MAX_WORDS + 1]).is_err());
    // Trailing zero words are not significant.
    assert_eq!(CapabilitySet::from_words(&[5, 0, 0]).unwrap().words(), &[5]);
}

fn node(ids: &[Capability]) -> Capabilities {
    Capabilities {
        offered: ids.iter().copied().collect(),
        mandatory: [Capability::AuthToken].into_iter().collect(),
        version: "0.9.1".into(),
        ..Default::default()
    }
}

fn job(ids: &[Capability]) -> Capabilities {
    Capabilities {
        offered: ids.iter().copied().collect(),
        ..Default::default()
    }
}

#[test]
fn compatibility_rules() {
    use Capability::*;
    let o = node(&[H264, Mpegts, AuthToken, ProfileH264High]);
    job(&[H264, AuthToken]).fits(Some(&o)).unwrap();
    assert_eq!(
        job(&[H264]).fits(Some(&o)),
        Err(Incompatibility::MandatoryMissing { ids: vec![12] })
    );
    assert_eq!(
        job(&[H264, AuthToken, HevcDecode]).fits(Some(&o)),
        Err(Incompatibility::CapabilityMissing { ids: vec![15] })
    );
    let mut j = job(&[H264, AuthToken]);
    j.min_version = "0.9.2".into();
    assert!(matches!(
        j.fits(Some(&o)),
        Err(Incompatibility::Version { .. })
    ));
    j.min_version = "0.9.1".into();
    j.fits(Some(&o)).unwrap();
    // Legacy orchestrators (no capabilities) only take legacy jobs.
    job(&[H264, Mpegts, GopSize]).fits(None).unwrap();
    assert_eq!(
        job(&[H264, AuthToken]).fits(None),
        Err(Incompatibility::NotLegacy)
    );
}

#[test]
fn model_constraints() {
    use Capability::*;
    let mut o = node(&[TextToImage, AuthToken]);
    o.models.insert(
        TextToImage.id(),
        [(
            "sdxl".to_owned(),
            ModelConstraint {
                warm: false,
                runner_version: "0.5.0".into(),
                ..Default::default()
            },
        )]
        .into(),
    );
    let mut j = job(&[TextToImage, AuthToken]);
    let ask = |warm: bool, rv: &str, model: &str| {
        let mut j = j.clone();
        j.models.insert(
            TextToImage.id(),
            [(
                model.to_owned(),
                ModelConstraint {
                    warm,
                    runner_version: rv.into(),
                    ..Default::default()
                },
            )]
            .into(),
        );
        j
    };
    ask(false, "0.4.9", "sdxl").fits(Some(&o)).unwrap();
    assert!(matches!(
        ask(true, "", "sdxl").fits(Some(&o)),
        Err(Incompatibility::ModelCold { .. })
    ));
    assert!(matches!(
        ask(false, "0.5.1", "sdxl").fits(Some(&o)),
        Err(Incompatibility::RunnerVersion { .. })
    ));
    assert!(matches!(
        ask(false, "", "flux").fits(Some(&o)),
        Err(Incompatibility::ModelMissing { .. })
    ));
    j.models.clear();
    j.fits(Some(&o)).unwrap();
}

#[test]
fn proto_round_trip() {
    let mut c = node(&[Capability::H264, Capability::Llm]);
    c.capacities.insert(33, 2);
    c.min_version = "0.8.0".into();
    c.models.insert(
        33,
        [(
            "llama".to_owned(),
            ModelConstraint {
                warm: true,
                capacity: 3,
                runner_version: "1.2.3".into(),
                capacity_in_use: 1,
            },
        )]
        .into(),
    );
    assert_eq!(Capabilities::from_proto(&c.to_proto()).unwrap(), c);
}

#[test]
fn versions() {
    assert_eq!(version_cmp("0.9.1", "0.9.1"), Ordering::Equal);
    assert_eq!(version_cmp("v0.9.1", "0.9.1"), Ordering::Equal);
    assert_eq!(version_cmp("0.10.0", "0.9.9"), Ordering::Greater);
    assert_eq!(version_cmp("0.9.1-dev", "0.9.1"), Ordering::Less);
    assert_eq!(version_cmp("1.0", "1.0.0"), Ordering::Equal);
    assert_eq!(version_cmp("1.0.0+abc", "1.0.0"), Ordering::Equal);
    assert_eq!(version_cmp("garbage", "0.0.1"), Ordering::Less);
    assert_eq!(version_cmp("1.2.3.4", "0.0.1"), Ordering::Less);
}
