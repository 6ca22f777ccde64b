//! Frame-rate conversion by selection: which input frames to encode, how often, and at which
//! output timestamps.
//!
//! Each segment's output frames sit on a grid that starts at the segment's first frame:
//! `start + k / rate`. An input frame at `t` takes grid slot `k = (t − start) × rate`
//! rounded to nearest (halves down), and also any empty slots before it (a slow source is
//! filled by repeating frames); a frame whose slot is taken is dropped. Anchoring the grid
//! per segment keeps every segment self-contained and its frame count at
//! `duration × rate`: a 2-s segment at 15 fps has 30 frames whatever the source's phase.

/// More repeats than this for one input frame means a timestamp jump, not a slow source.
const MAX_REPEATS: i64 = 120;

/// Per-rendition state of the frame-rate converter.
#[derive(Debug, Clone)]
pub(crate) struct FpsSelector {
    /// Output rate (num, den); `None` keeps every frame at its own timestamp.
    rate: Option<(i64, i64)>,
    /// The segment's grid origin (its first frame's pts).
    origin: Option<i64>,
    /// The next grid slot to fill.
    next_slot: i64,
    /// Slots in this segment: its duration × rate. Millisecond timestamps (RTMP) can put
    /// the last frame a hair past a half slot; the limit keeps it from adding a frame.
    slots: i64,
}

impl FpsSelector {
    pub(crate) fn new(rate: Option<(u32, u32)>) -> Self {
        Self {
            rate: rate.map(|(n, d)| (i64::from(n), i64::from(d.max(1)))),
            origin: None,
            next_slot: 0,
            slots: i64::MAX,
        }
    }

    /// Starts a new segment of `duration` (90 kHz ticks): the next frame anchors the grid.
    pub(crate) fn begin_segment(&mut self, duration: i64) {
        self.origin = None;
        self.next_slot = 0;
        self.slots = match self.rate {
            Some((num, den)) if duration > 0 => {
                let scale = den * 90_000;
                ((2 * duration * num + scale).div_euclid(2 * scale)).max(1)
            }
            _ => i64::MAX,
        };
    }

    /// Output timestamps (90 kHz) for an input frame at `pts`: empty to drop it, several to
    /// repeat it.
    pub(crate) fn select(&mut self, pts: i64) -> Vec<i64> {
        let Some((num, den)) = self.rate else {
            return vec![pts];
        };
        let origin = *self.origin.get_or_insert(pts);
        let scale = den * 90_000;
        // slot = (pts − origin) × num / scale, nearest, halves down.
        let slot = (2 * (pts - origin) * num + scale - 1).div_euclid(2 * scale);
        let slot = slot.min(self.slots - 1);
        let first = if slot < self.next_slot {
            return Vec::new();
        } else if slot - self.next_slot <= MAX_REPEATS {
            self.next_slot
        } else {
            slot
        };
        self.next_slot = slot + 1;
        (first..=slot)
            .map(|k| origin + (2 * k * scale + num).div_euclid(2 * num))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: (u32, u32), pts: impl IntoIterator<Item = i64>) -> Vec<i64> {
        let mut s = FpsSelector::new(Some(rate));
        s.begin_segment(0);
        pts.into_iter().flat_map(|p| s.select(p)).collect()
    }

    #[test]
    fn keep_source() {
        let mut s = FpsSelector::new(None);
        assert_eq!(s.select(1234), vec![1234]);
    }

    #[test]
    fn same_rate_maps_one_to_one_and_regularises_jitter() {
        let out = run((30, 1), [126_000, 129_090, 131_940, 135_000]);
        assert_eq!(out, vec![126_000, 129_000, 132_000, 135_000]);
    }

    #[test]
    fn counts_follow_the_duration_whatever_the_phase() {
        // 2 s of 30 fps at an odd phase, to 15 fps: 30 frames from the first frame's time.
        let out = run((15, 1), (0..60).map(|i| 128_090 + i * 3000));
        assert_eq!(out.len(), 30);
        assert_eq!(out[0], 128_090);
        assert_eq!(out[29], 128_090 + 29 * 6000);
        // 60 to 30: every other frame, the first of each pair.
        assert_eq!(run((30, 1), (0..120).map(|i| i * 1500)).len(), 60);
        // 30 to 25: 50; 25 to 30: 60 (repeats fill the gaps).
        assert_eq!(run((25, 1), (0..60).map(|i| i * 3000)).len(), 50);
        assert_eq!(run((30, 1), (0..50).map(|i| i * 3600)).len(), 60);
    }

    #[test]
    fn fills_small_gaps_not_jumps() {
        let mut s = FpsSelector::new(Some((30, 1)));
        assert_eq!(s.select(0), vec![0]);
        assert_eq!(s.select(9000), vec![3000, 6000, 9000]);
        assert_eq!(s.select(90_000 * 100), vec![90_000 * 100]);
        s.begin_segment(0);
        assert_eq!(s.select(777), vec![777], "a new segment anchors a new grid");
    }

    #[test]
    fn millisecond_jitter_does_not_add_a_frame() {
        // RTMP timestamps: whole milliseconds, 60 frames of 30 fps in a 2-s segment.
        let pts: Vec<i64> = (0..60).map(|i| (i * 1000 / 30 + i % 3 / 2) * 90).collect();
        let mut s = FpsSelector::new(Some((15, 1)));
        s.begin_segment(180_000);
        let out: Vec<i64> = pts.iter().flat_map(|&p| s.select(p)).collect();
        assert_eq!(out.len(), 30);
    }

    #[test]
    fn ntsc_rate() {
        assert_eq!(
            run((30_000, 1001), (0..4).map(|i| i * 3003)),
            vec![0, 3003, 6006, 9009]
        );
    }
}
