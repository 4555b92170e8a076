//! Reading playlists the way an LL-HLS player does: the first variant of a multivariant
//! playlist, the parts of a media playlist with their `(msn, part)` numbers, and the
//! `(msn, part)` to ask for in the next blocking reload.

/// A part listed in a media playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRef {
    /// Media sequence number of its segment.
    pub msn: u64,
    /// Its index inside the segment.
    pub index: u64,
    /// Its URI as written (relative to the playlist).
    pub uri: String,
}

/// What a player needs from a media playlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Media {
    /// The parts listed, oldest first.
    pub parts: Vec<PartRef>,
    /// `(msn, part)` of the first part not listed yet: the next blocking reload.
    pub next: (u64, u64),
}

impl Media {
    /// The part after `(msn, index)`, if listed, else [`Media::next`].
    pub fn after(&self, msn: u64, index: u64) -> (u64, u64) {
        match self
            .parts
            .iter()
            .position(|p| p.msn == msn && p.index == index)
        {
            Some(i) if i + 1 < self.parts.len() => (self.parts[i + 1].msn, self.parts[i + 1].index),
            _ => self.next,
        }
    }
}

fn attribute(line: &str, key: &str) -> Option<String> {
    let k = format!("{key}=\"");
    let i = line.find(&k)? + k.len();
    let j = line[i..].find('"')?;
    Some(line[i..i + j].to_string())
}

/// The URI of the first variant of a multivariant playlist.
pub fn first_variant(text: &str) -> Option<String> {
    let mut lines = text.lines().map(str::trim);
    lines.find(|l| l.starts_with("#EXT-X-STREAM-INF"))?;
    lines
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
}

/// Parses a media playlist.
pub fn parse_media(text: &str) -> Media {
    let mut msn = 0u64;
    let mut index = 0u64;
    let mut parts = Vec::new();
    let mut in_segment = false;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            msn = v.parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
            if let Some(uri) = attribute(v, "URI") {
                parts.push(PartRef { msn, index, uri });
            }
            index += 1;
        } else if line.starts_with("#EXTINF") {
            in_segment = true;
        } else if in_segment && !line.is_empty() && !line.starts_with('#') {
            // The segment's URI closes it: what follows belongs to the next one.
            msn += 1;
            index = 0;
            in_segment = false;
        }
    }
    Media {
        parts,
        next: (msn, index),
    }
}

/// `uri` as an absolute path, relative to the playlist at `playlist_path` (query dropped).
pub fn resolve(playlist_path: &str, uri: &str) -> String {
    if uri.starts_with('/') {
        return uri.to_string();
    }
    let dir = playlist_path.split('?').next().unwrap_or("");
    let dir = &dir[..dir.rfind('/').map_or(0, |i| i + 1)];
    format!("{dir}{uri}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Stream;

    #[test]
    fn the_origins_playlists_read_back() {
        let s = Stream::new(200_000, 5, 7, 1_000_000_000);
        assert_eq!(
            first_variant(&s.multivariant()).as_deref(),
            Some("video1_stream.m3u8")
        );
        for completed in [35, 36, 38, 39, 40] {
            let m = parse_media(&s.media_playlist(completed));
            assert_eq!(
                m.next,
                (completed / 5, completed % 5),
                "completed {completed}"
            );
            let last = m.parts.last().unwrap();
            assert_eq!(last.uri, s.part_name(completed - 1));
            assert_eq!(
                (last.msn, last.index),
                ((completed - 1) / 5, (completed - 1) % 5)
            );
            assert_eq!(m.after(last.msn, last.index), m.next);
            let first = &m.parts[0];
            assert_eq!(
                m.after(first.msn, first.index),
                (m.parts[1].msn, m.parts[1].index)
            );
        }
    }

    #[test]
    fn uris_resolve_against_the_playlist() {
        let cases = [
            (
                "/play/video1_stream.m3u8?_HLS_msn=1",
                "p1.mp4",
                "/play/p1.mp4",
            ),
            (
                "/play/index.m3u8",
                "video1_stream.m3u8",
                "/play/video1_stream.m3u8",
            ),
            ("/live/stream/index.m3u8", "/x/y.mp4", "/x/y.mp4"),
        ];
        for (base, uri, want) in cases {
            assert_eq!(resolve(base, uri), want);
        }
    }
}
