//! The fake live stream: a part every `part` (200 ms), `parts_per_segment` parts per segment
//! (1 s segments), named and listed the way MediaMTX's LL-HLS muxer does it
//! (`index.m3u8` -> `video1_stream.m3u8`, `{prefix}_video1_part{N}.mp4` with a stream-wide
//! part number, `{prefix}_video1_seg{M}.mp4`, `{prefix}_video1_init.mp4`).
//!
//! Time is arithmetic, not state: part `g` becomes ready at `epoch_us + (g + 1) * part_us`
//! (Unix microseconds, the value of the `x-ready-us` header), so every process on the machine
//! agrees on when a part appeared.

use std::fmt::Write as _;

/// Name of the one media playlist, as MediaMTX calls its first video track's playlist.
pub const MEDIA_PLAYLIST: &str = "video1_stream.m3u8";
/// Name of the multivariant playlist.
pub const MULTIVARIANT: &str = "index.m3u8";

/// A file of the stream, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    /// `index.m3u8`
    Multivariant,
    /// `video1_stream.m3u8`
    Media,
    /// The init segment.
    Init,
    /// Segment number `M` (its media sequence number).
    Segment(u64),
    /// Part number `N`, counted over the whole stream.
    Part(u64),
}

/// Where a part or segment is relative to the live edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Ready and still listed: serve it.
    Ready,
    /// The next part, announced by the preload hint: wait for it.
    Next,
    /// Not listed any more, or further ahead than the next part.
    Gone,
}

/// The timing and naming of the stream.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Part duration, microseconds.
    pub part_us: i64,
    /// Parts per segment.
    pub parts_per_segment: u64,
    /// Complete segments listed in the media playlist.
    pub window: u64,
    /// Part `g` is ready at `epoch_us + (g + 1) * part_us`.
    pub epoch_us: i64,
    /// File name prefix (MediaMTX uses a random one per muxer).
    pub prefix: String,
}

impl Stream {
    /// A stream that has been running for `window` segments at `now_us`, so its first
    /// playlist is already full.
    pub fn new(part_us: i64, parts_per_segment: u64, window: u64, now_us: i64) -> Stream {
        let history = (window * parts_per_segment) as i64;
        Stream {
            part_us,
            parts_per_segment,
            window,
            epoch_us: now_us - history * part_us,
            prefix: "5f3e9a1c0b7d".to_string(),
        }
    }

    /// Parts completed at `now_us`.
    pub fn completed(&self, now_us: i64) -> u64 {
        ((now_us - self.epoch_us).max(0) / self.part_us) as u64
    }

    /// When part `g` became (or becomes) ready, Unix microseconds.
    pub fn ready_us(&self, g: u64) -> i64 {
        self.epoch_us + (g as i64 + 1) * self.part_us
    }

    /// How many parts must be complete before a blocking reload of `(msn, part)` may be
    /// answered: with `_HLS_part`, that part must exist; without, the whole segment `msn`.
    pub fn needed(&self, msn: u64, part: Option<u64>) -> u64 {
        match part {
            Some(p) => msn * self.parts_per_segment + p + 1,
            None => (msn + 1) * self.parts_per_segment,
        }
    }

    /// Which file `name` is, if it is one of the stream's.
    pub fn file(&self, name: &str) -> Option<File> {
        match name {
            MULTIVARIANT => return Some(File::Multivariant),
            MEDIA_PLAYLIST => return Some(File::Media),
            _ => {}
        }
        let rest = name.strip_prefix(&self.prefix)?.strip_prefix("_video1_")?;
        let rest = rest.strip_suffix(".mp4")?;
        if rest == "init" {
            return Some(File::Init);
        }
        if let Some(n) = rest.strip_prefix("part") {
            return n.parse().ok().map(File::Part);
        }
        rest.strip_prefix("seg")?.parse().ok().map(File::Segment)
    }

    /// Whether part `g` can be served when `completed` parts exist.
    pub fn part_availability(&self, g: u64, completed: u64) -> Availability {
        let oldest = completed.saturating_sub(self.window * self.parts_per_segment);
        if g < oldest || g > completed {
            Availability::Gone
        } else if g == completed {
            Availability::Next
        } else {
            Availability::Ready
        }
    }

    /// Whether segment `m` can be served when `completed` parts exist.
    pub fn segment_ready(&self, m: u64, completed: u64) -> bool {
        let segs = completed / self.parts_per_segment;
        m < segs && m + self.window >= segs
    }

    /// Name of part `g`.
    pub fn part_name(&self, g: u64) -> String {
        format!("{}_video1_part{g}.mp4", self.prefix)
    }

    /// The multivariant playlist.
    pub fn multivariant(&self) -> String {
        format!(
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1800000,AVERAGE-BANDWIDTH=1600000,\
             CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000\n\
             {MEDIA_PLAYLIST}\n"
        )
    }

    /// The media playlist when `completed` parts exist: `window` complete segments, the parts
    /// of the last two of them and of the segment in progress, and a preload hint for the
    /// next part.
    pub fn media_playlist(&self, completed: u64) -> String {
        let pps = self.parts_per_segment;
        let part_s = self.part_us as f64 / 1e6;
        let segs = completed / pps;
        let first = segs.saturating_sub(self.window);
        let mut s = String::with_capacity(2048);
        let _ = write!(
            s,
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:{}\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.5}\n\
             #EXT-X-PART-INF:PART-TARGET={:.5}\n#EXT-X-MEDIA-SEQUENCE:{first}\n\
             #EXT-X-MAP:URI=\"{}_video1_init.mp4\"\n",
            (part_s * pps as f64).ceil() as u64,
            part_s * 2.5,
            part_s,
            self.prefix,
        );
        let part_line = |s: &mut String, g: u64| {
            let independent = if g % pps == 0 { ",INDEPENDENT=YES" } else { "" };
            let _ = writeln!(
                s,
                "#EXT-X-PART:DURATION={part_s:.5},URI=\"{}\"{independent}",
                self.part_name(g)
            );
        };
        for m in first..segs {
            if m + 2 >= segs {
                for g in m * pps..(m + 1) * pps {
                    part_line(&mut s, g);
                }
            }
            let _ = write!(
                s,
                "#EXTINF:{:.5},\n{}_video1_seg{m}.mp4\n",
                part_s * pps as f64,
                self.prefix
            );
        }
        for g in segs * pps..completed {
            part_line(&mut s, g);
        }
        let _ = writeln!(
            s,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
            self.part_name(completed)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Stream {
        Stream::new(200_000, 5, 7, 1_000_000_000)
    }

    #[test]
    fn parts_become_ready_on_a_fixed_schedule() {
        let s = stream();
        assert_eq!(s.completed(1_000_000_000), 35);
        assert_eq!(s.ready_us(35), 1_000_200_000);
        assert_eq!(s.completed(s.ready_us(35) - 1), 35);
        assert_eq!(s.completed(s.ready_us(35)), 36);
    }

    #[test]
    fn names_map_to_files() {
        let s = stream();
        let p = &s.prefix;
        let cases = [
            ("index.m3u8".to_string(), Some(File::Multivariant)),
            ("video1_stream.m3u8".to_string(), Some(File::Media)),
            (format!("{p}_video1_init.mp4"), Some(File::Init)),
            (format!("{p}_video1_part42.mp4"), Some(File::Part(42))),
            (format!("{p}_video1_seg7.mp4"), Some(File::Segment(7))),
            (format!("{p}_video1_partx.mp4"), None),
            ("other_video1_part1.mp4".to_string(), None),
            ("seg.mp4".to_string(), None),
        ];
        for (name, want) in cases {
            assert_eq!(s.file(&name), want, "{name}");
        }
    }

    #[test]
    fn blocking_reloads_wait_for_the_named_part_or_segment() {
        let s = stream();
        assert_eq!(s.needed(7, Some(0)), 36);
        assert_eq!(s.needed(7, Some(4)), 40);
        assert_eq!(s.needed(7, None), 40);
    }

    #[test]
    fn parts_are_served_inside_the_window_and_the_next_one_is_awaited() {
        let s = stream();
        let cases = [
            (36, Availability::Next),
            (35, Availability::Ready),
            (1, Availability::Ready),
            (0, Availability::Gone),
            (37, Availability::Gone),
        ];
        for (g, want) in cases {
            assert_eq!(s.part_availability(g, 36), want, "part {g}");
        }
        assert!(s.segment_ready(6, 36));
        assert!(!s.segment_ready(7, 36));
    }

    #[test]
    fn a_media_playlist_is_about_one_and_a_half_kilobytes() {
        let text = stream().media_playlist(38);
        assert!((1000..2500).contains(&text.len()), "{} bytes", text.len());
        assert!(text.ends_with("_video1_part38.mp4\"\n"));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    }
}
