//! One line of `ovs-ofctl dump-flows` output, parsed without copying: OpenFlow 1.0 (+NXM) and
//! 1.3 layouts, reply headers (`NXST_FLOW reply (xid=0x4): flags=[more]`,
//! `OFPST_FLOW reply (OF1.3) (xid=0x2):`), `--names` quoting (`in_port="my port"`).
//!
//! Layout, as `ofputil_flow_stats_format` prints it: statistics separated by `", "` (flag words
//! such as `reset_counts` end with a space instead), then the match (starting with `priority=N`
//! unless it is the default 32768), then ` actions=…`.

/// OpenFlow's default priority, which `ovs-ofctl` leaves out of the match.
pub const DEFAULT_PRIORITY: u32 = 32768;

/// A dump-flows line that is not a flow, a header or blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowParseError {
    #[error("no actions= in flow line")]
    NoActions,
    #[error("bad value for {field}: {value:?}")]
    BadValue { field: &'static str, value: String },
    #[error("unbalanced quote, parenthesis or bracket")]
    Unbalanced,
}

/// The table of a flow: a number, or a name when `--names` and table names are in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table<'a> {
    Id(u8),
    Name(&'a str),
}

/// One flow, borrowing from its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow<'a> {
    pub cookie: u64,
    pub duration_secs: Option<f64>,
    pub table: Table<'a>,
    pub n_packets: Option<u64>,
    pub n_bytes: Option<u64>,
    pub idle_timeout: Option<u32>,
    pub hard_timeout: Option<u32>,
    pub idle_age: Option<u32>,
    pub hard_age: Option<u32>,
    pub priority: u32,
    /// The match as printed (including `priority=`), without the statistics.
    pub matches: &'a str,
    /// The actions as printed, after `actions=`.
    pub actions: &'a str,
}

/// What one line of dump-flows output is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    Blank,
    /// A reply header; `more` when `flags=[more]` says further replies follow.
    Header {
        more: bool,
    },
    Flow(Flow<'a>),
}

const STAT_KEYS: [&str; 10] = [
    "cookie",
    "duration",
    "table",
    "n_packets",
    "n_bytes",
    "idle_timeout",
    "hard_timeout",
    "importance",
    "idle_age",
    "hard_age",
];
const FLAG_WORDS: [&str; 5] = [
    "send_flow_rem",
    "check_overlap",
    "reset_counts",
    "no_packet_counts",
    "no_byte_counts",
];

/// Parses one line (with or without its newline).
pub fn parse_line(line: &str) -> Result<Line<'_>, FlowParseError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Line::Blank);
    }
    if line.starts_with("NXST_FLOW reply") || line.starts_with("OFPST_FLOW reply") {
        return Ok(Line::Header {
            more: line.contains("flags=[more]"),
        });
    }
    let at = find_actions(line)?.ok_or(FlowParseError::NoActions)?;
    let head = &line[..at];
    let actions = line[at..]
        .trim_start()
        .strip_prefix("actions=")
        .unwrap_or("");
    let mut f = Flow {
        cookie: 0,
        duration_secs: None,
        table: Table::Id(0),
        n_packets: None,
        n_bytes: None,
        idle_timeout: None,
        hard_timeout: None,
        idle_age: None,
        hard_age: None,
        priority: DEFAULT_PRIORITY,
        matches: "",
        actions,
    };
    let mut match_start = head.len();
    for (off, tok) in Split::new(head, |b| b == b',' || b == b' ') {
        if tok.is_empty() || FLAG_WORDS.contains(&tok) {
            continue;
        }
        let (key, value) = tok.split_once('=').unwrap_or((tok, ""));
        if !STAT_KEYS.contains(&key) {
            match_start = off;
            break;
        }
        stat(&mut f, key, value)?;
    }
    f.matches = head[match_start..].trim().trim_end_matches(',');
    for (_, field) in Split::new(f.matches, |b| b == b',') {
        if let Some(p) = field.strip_prefix("priority=") {
            f.priority = num("priority", p)?;
        }
    }
    Ok(Line::Flow(f))
}

fn stat<'a>(f: &mut Flow<'a>, key: &str, v: &'a str) -> Result<(), FlowParseError> {
    match key {
        "cookie" => {
            let hex = v.strip_prefix("0x").unwrap_or(v);
            f.cookie = u64::from_str_radix(hex, 16).map_err(|_| bad("cookie", v))?;
        }
        "duration" => {
            let s = v.strip_suffix('s').unwrap_or(v);
            f.duration_secs = Some(s.parse().map_err(|_| bad("duration", v))?);
        }
        "table" => {
            f.table = match v.parse() {
                Ok(n) => Table::Id(n),
                Err(_) if !v.is_empty() && !v.starts_with(|c: char| c.is_ascii_digit()) => {
                    Table::Name(v.trim_matches('"'))
                }
                Err(_) => return Err(bad("table", v)),
            }
        }
        "n_packets" => f.n_packets = Some(num("n_packets", v)?),
        "n_bytes" => f.n_bytes = Some(num("n_bytes", v)?),
        "idle_timeout" => f.idle_timeout = Some(num("idle_timeout", v)?),
        "hard_timeout" => f.hard_timeout = Some(num("hard_timeout", v)?),
        "idle_age" => f.idle_age = Some(num("idle_age", v)?),
        "hard_age" => f.hard_age = Some(num("hard_age", v)?),
        _ => {}
    }
    Ok(())
}

fn bad(field: &'static str, value: &str) -> FlowParseError {
    FlowParseError::BadValue {
        field,
        value: value.chars().take(64).collect(),
    }
}

fn num<T: std::str::FromStr>(field: &'static str, v: &str) -> Result<T, FlowParseError> {
    v.parse().map_err(|_| bad(field, v))
}

/// Byte offset of ` actions=` (or `actions=` at the start), outside quotes and brackets.
fn find_actions(line: &str) -> Result<Option<usize>, FlowParseError> {
    if line.starts_with("actions=") {
        return Ok(Some(0));
    }
    let b = line.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = skip_quoted(b, i)?,
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth = depth.checked_sub(1).ok_or(FlowParseError::Unbalanced)?,
            b' ' if depth == 0 && b[i + 1..].starts_with(b"actions=") => return Ok(Some(i)),
            _ => {}
        }
        i += 1;
    }
    Ok(None)
}

/// Index of the closing quote of the quoted string opening at `open`.
fn skip_quoted(b: &[u8], open: usize) -> Result<usize, FlowParseError> {
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i),
            _ => i += 1,
        }
    }
    Err(FlowParseError::Unbalanced)
}

/// Splits at separator bytes that are outside quotes, parentheses and brackets, yielding
/// `(byte offset, piece)`. Unbalanced input ends the split with the rest as one piece.
pub struct Split<'a, F> {
    s: &'a str,
    pos: usize,
    done: bool,
    is_sep: F,
}

impl<'a, F: Fn(u8) -> bool> Split<'a, F> {
    pub fn new(s: &'a str, is_sep: F) -> Self {
        Self {
            s,
            pos: 0,
            done: false,
            is_sep,
        }
    }
}

impl<'a, F: Fn(u8) -> bool> Iterator for Split<'a, F> {
    type Item = (usize, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let b = self.s.as_bytes();
        let start = self.pos;
        let mut depth = 0usize;
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'"' => i = skip_quoted(b, i).unwrap_or(b.len()),
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth = depth.saturating_sub(1),
                c if depth == 0 && (self.is_sep)(c) => {
                    self.pos = i + 1;
                    return Some((start, &self.s[start..i]));
                }
                _ => {}
            }
            i += 1;
        }
        self.done = true;
        Some((start, &self.s[start..]))
    }
}

/// Removes `--names` quoting: `"tap 1"` → `tap 1` (backslash escapes resolved).
pub fn unquote(s: &str) -> std::borrow::Cow<'_, str> {
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) if inner.contains('\\') => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out.into()
        }
        Some(inner) => inner.into(),
        None => s.into(),
    }
}

#[cfg(test)]
mod tests;
