//! The namespace kit against real sockets: the wire delays, drops and cuts what it is told
//! to and nothing else, and the namespaces are gone once the `Net` is.

use std::time::{Duration, Instant};

use reel_testkit::netns::{Link, Net};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

fn net(names: &[&str]) -> Option<Net> {
    if let Some(why) = Net::unavailable() {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    Some(Net::new(names, 7).unwrap())
}

#[tokio::test]
async fn links_delay_drop_and_cut_packets_between_hosts() {
    let Some(net) = net(&["a", "b", "c"]) else {
        return;
    };
    let (a, b) = (net.host("a").unwrap(), net.host("b").unwrap());
    let b_addr = b.socket(7000);

    // An echo server on b, reached by b's address from a.
    b.run(async move {
        let l = TcpListener::bind(b_addr).await.unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
    })
    .await;
    let rtt = move || async move {
        let mut s = TcpStream::connect(b_addr).await.unwrap();
        let t = Instant::now();
        s.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        t.elapsed()
    };
    let clean = a.run(rtt()).await;
    assert!(clean < Duration::from_millis(20), "{clean:?}");

    net.link("a", "b", Link::wan(Duration::from_millis(100), 0))
        .unwrap();
    let slow = a.run(rtt()).await;
    assert!(
        slow >= Duration::from_millis(100) && slow < Duration::from_millis(150),
        "a 100 ms round trip took {slow:?}"
    );

    // 5% loss one way: exactly the packets the wire counts as passed arrive, and about 5%
    // do not.
    net.link("a", "c", Link::CLEAN).unwrap();
    net.set(
        "a",
        "c",
        Link {
            loss_ppm: 50_000,
            ..Link::CLEAN
        },
    )
    .unwrap();
    let c_addr = net.host("c").unwrap().socket(7001);
    // Counted as they arrive: a socket buffer left to fill would drop packets itself.
    let rx = net.host("c").unwrap().handle().spawn(async move {
        let s = UdpSocket::bind(c_addr).await.unwrap();
        let mut got = 0u64;
        let mut buf = [0u8; 16];
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(500), s.recv(&mut buf)).await
        {
            got += 1;
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = 2000u64;
    a.run(async move {
        let s = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        for i in 0..sent {
            s.send_to(&i.to_be_bytes(), c_addr).await.unwrap();
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    })
    .await;
    let got = rx.await.unwrap();
    let st = net.stats("a", "c").unwrap();
    assert_eq!(st.passed + st.lost, sent, "{st:?}");
    assert_eq!(got, st.passed, "{st:?}");
    assert!((60..=140).contains(&st.lost), "5% of 2000: {st:?}");

    // Cut: nothing gets through; restored, it works again.
    net.isolate("b", true).unwrap();
    let cut = a
        .run(async move {
            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(b_addr)).await
        })
        .await;
    assert!(cut.is_err(), "connected over a cut link: {cut:?}");
    assert!(net.stats("a", "b").unwrap().cut > 0);
    net.isolate("b", false).unwrap();
    assert!(net.get("a", "b").unwrap().up);
    let back = a.run(rtt()).await;
    assert!(
        back >= Duration::from_millis(100),
        "the delay stays: {back:?}"
    );
}

#[tokio::test]
async fn a_rate_limited_link_carries_its_rate_and_processes_start_on_their_host() {
    let Some(net) = net(&["a", "b"]) else {
        return;
    };
    // 8 Mbit/s: 1 MB takes about a second.
    net.link(
        "a",
        "b",
        Link {
            rate_bps: Some(8_000_000),
            ..Link::CLEAN
        },
    )
    .unwrap();
    let b = net.host("b").unwrap();
    let b_addr = b.socket(7002);
    let listener = b
        .run(async move { TcpListener::bind(b_addr).await.unwrap() })
        .await;
    let server = b.handle().spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        all.len()
    });
    let took = net
        .host("a")
        .unwrap()
        .run(async move {
            let t = Instant::now();
            let mut s = TcpStream::connect(b_addr).await.unwrap();
            s.write_all(&vec![7u8; 1_000_000]).await.unwrap();
            s.shutdown().await.unwrap();
            drop(s);
            t
        })
        .await;
    assert_eq!(server.await.unwrap(), 1_000_000);
    let secs = took.elapsed().as_secs_f64();
    assert!((0.8..2.5).contains(&secs), "1 MB at 8 Mbit/s took {secs} s");

    // A process started on b sees b's address and nothing of the test's own interfaces.
    let out = b.command("ip").args(["-4", "-o", "addr"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("10.77.0.2/24"), "{text}");
    assert_eq!(text.lines().count(), 2, "lo and wire0 only: {text}");
}

#[test]
fn namespaces_are_removed_with_the_net() {
    let Some(net) = net(&["x"]) else {
        return;
    };
    let ns = net.host("x").unwrap().netns().to_owned();
    let path = std::path::Path::new("/run/netns").join(&ns);
    assert!(path.exists());
    drop(net);
    assert!(!path.exists(), "{ns} left behind");
}

#[test]
fn namespaces_are_removed_when_a_test_panics() {
    if Net::unavailable().is_some() {
        eprintln!("SKIPPED: no namespaces here");
        return;
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let s = seen.clone();
    let r = std::thread::spawn(move || {
        let net = Net::new(&["doomed"], 1).unwrap();
        *s.lock().unwrap() = net.host("doomed").unwrap().netns().to_owned();
        panic!("a failing test");
    })
    .join();
    assert!(r.is_err());
    let ns = seen.lock().unwrap().clone();
    assert!(!ns.is_empty());
    assert!(
        !std::path::Path::new("/run/netns").join(&ns).exists(),
        "{ns} left behind by a panicking test"
    );
}
