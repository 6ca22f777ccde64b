//! `reel ingest-test`: the off-chain local mode. RTMP and HTTP push in, a local transcode
//! session per stream, HLS out — point OBS or ffmpeg at it and play the result.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reel_media::hls::HlsSettings;
use reel_media::server::HttpSettings;
use reel_media::{
    HlsStore, LocalTranscoder, MediaServer, PipelineSettings, RtmpServer, RtmpSettings,
    SegmentHandler, SegmenterSettings, SessionSettings, run_pipeline,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::transcode::load_ladder;

#[derive(Debug, Args)]
pub(crate) struct IngestTestArgs {
    /// RTMP listen address (publish to rtmp://<addr>/live/<stream key>)
    #[arg(long, default_value = "127.0.0.1:1935")]
    rtmp_addr: SocketAddr,
    /// HTTP listen address: HLS at /stream/<key>.m3u8, segment push at /live/<key>/<seq>.ts
    #[arg(long, default_value = "127.0.0.1:8935")]
    http_addr: SocketAddr,
    /// Ladder: standard profile names separated by commas, or a JSON ladder file
    #[arg(long, default_value = reel_media::profile::DEFAULT_LADDER, value_name = "NAMES|FILE")]
    profiles: String,
    /// Also record every segment and a VOD playlist under this directory
    #[arg(long, value_name = "DIR")]
    record_dir: Option<PathBuf>,
    /// Target segment length in seconds (segments end at the next keyframe)
    #[arg(long, default_value_t = 2.0)]
    segment_length: f64,
    /// libx264 preset
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// Threads per encoder (0: the encoder decides)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Most streams transcoded at once
    #[arg(long, default_value_t = 4)]
    max_streams: usize,
    /// Largest pushed segment in MiB
    #[arg(long, default_value_t = 64)]
    max_segment_mib: usize,
}

pub(crate) async fn run(args: IngestTestArgs) -> anyhow::Result<()> {
    let ladder = load_ladder(&args.profiles)?;
    anyhow::ensure!(
        args.segment_length > 0.0 && args.segment_length <= 60.0,
        "--segment-length must be between 0 and 60 seconds"
    );
    let mut settings = SessionSettings::new(ladder);
    settings.x264_preset = args.preset.clone();
    settings.encoder_threads = args.threads;
    let names: Vec<String> = settings.profiles.iter().map(|p| p.name.clone()).collect();
    let transcoder = Arc::new(
        LocalTranscoder::new(settings, args.max_streams).context("setting up the transcoder")?,
    );
    let handler: Arc<dyn SegmentHandler> = Arc::new(transcoder);
    let hls = Arc::new(HlsStore::new(HlsSettings {
        record_dir: args.record_dir.clone(),
        ..Default::default()
    }));

    let rtmp_listener = TcpListener::bind(args.rtmp_addr)
        .await
        .with_context(|| format!("listening on {} (in use? pass --rtmp-addr)", args.rtmp_addr))?;
    let http_listener = TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("listening on {} (in use? pass --http-addr)", args.http_addr))?;

    let shutdown = CancellationToken::new();
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(64);
    let rtmp = RtmpServer::spawn(
        rtmp_listener,
        RtmpSettings {
            segmenter: SegmenterSettings {
                target: Duration::from_secs_f64(args.segment_length),
                ..Default::default()
            },
            ..Default::default()
        },
        events_tx,
        shutdown.clone(),
    )?;
    let pipeline = tokio::spawn(run_pipeline(
        events_rx,
        Arc::clone(&handler),
        Arc::clone(&hls),
        PipelineSettings::default(),
        shutdown.clone(),
    ));
    let web = MediaServer::new(
        HttpSettings {
            max_segment_bytes: args.max_segment_mib << 20,
            ..Default::default()
        },
        handler,
        hls,
    )
    .spawn(http_listener, shutdown.clone())?;

    let (r, h) = (rtmp.local_addr(), web.local_addr());
    println!(
        "reel ingest-test: transcoding locally to {}",
        names.join(", ")
    );
    println!(
        "  publish   rtmp://{r}/live/<stream key>      (OBS: server rtmp://{r}/live, any key)"
    );
    println!("  push      PUT http://{h}/live/<stream key>/<seq>.ts");
    println!("  play      http://{h}/stream/<stream key>.m3u8");
    if let Some(dir) = &args.record_dir {
        println!("  recording {}", dir.display());
    }
    println!("Press Ctrl-C to stop.");

    let signal = shutdown_signal().await?;
    tracing::info!("{signal}: stopping");
    shutdown.cancel();
    rtmp.join().await;
    let _ = pipeline.await;
    web.join().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, with the signal's name.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map(|()| "Ctrl-C").context("waiting for Ctrl-C"),
        _ = term.recv() => Ok("SIGTERM"),
    }
}
