//! `reel sim` as a user runs it: a shipped scenario gives a report with its charts, both
//! fidelities, and a broken scenario is refused with the file and field named.

use std::process::Command;

fn scenario(name: &str) -> String {
    format!("{}/../../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn reel_sim_writes_a_balanced_report_and_refuses_a_broken_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("today");
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(["sim", &scenario("today"), "--rounds", "3", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("today: 3 rounds aggregated per round"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for want in [
        "# reel sim: today",
        "**Break-even demand**",
        "| Gini coefficient |",
        "## Sensitivity",
        "| demand | ×10 |",
        "Balanced.",
    ] {
        assert!(report.contains(want), "{want:?} missing from:\n{report}");
    }
    for chart in [
        "work_vs_stake.svg",
        "income.svg",
        "bonding_inflation.svg",
        "ticket_income.svg",
    ] {
        let svg = std::fs::read_to_string(out_dir.join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && (svg.contains("<circle") || svg.contains("<polyline")),
            "{chart}"
        );
        assert!(report.contains(chart), "the report links {chart}");
    }

    let csv = std::fs::read_to_string(out_dir.join("orchestrators.csv")).unwrap();
    assert!(
        csv.starts_with("index,address,active,stake_share,work_share,"),
        "{csv}"
    );
    // today.toml has 120 orchestrators, 100 of them active.
    assert_eq!(csv.lines().count(), 121, "{csv}");
    assert_eq!(
        csv.lines().filter(|l| l.contains(",true,")).count(),
        100,
        "{csv}"
    );

    let events = dir.path().join("events");
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args([
            "sim",
            &scenario("cheaters"),
            "--rounds",
            "1",
            "--fidelity",
            "events",
            "--no-sensitivity",
            "--out",
        ])
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(events.join("report.md")).unwrap();
    assert!(report.contains("event by event"), "{report}");
    assert!(!report.contains("## Sensitivity"), "{report}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[demand]\ndaily_curve = [1.0, 2.0]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(["sim"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.toml") && err.contains("daily_curve has 2 values"),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(["sim", "no-such.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("reading no-such.toml"),
        "{err}"
    );
}
