//! Prometheus text exposition format (0.0.4) for a [`SeriesBuf`], as `snapshot --format
//! prometheus` prints it: one `# HELP`/`# TYPE` pair per metric name, samples grouped by name.

use std::fmt::Write;

use super::SeriesBuf;

/// Counters end in `_total`; everything else the agent emits is a gauge.
fn metric_type(name: &str) -> &'static str {
    if name.ends_with("_total") {
        "counter"
    } else {
        "gauge"
    }
}

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn format_value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Renders `buf` in the text exposition format.
pub fn render(buf: &SeriesBuf) -> String {
    let mut idx: Vec<usize> = (0..buf.samples.len()).collect();
    // Stable sort by name keeps each metric's samples together and in production order.
    idx.sort_by(|&a, &b| {
        buf.samples[a]
            .labels
            .name()
            .cmp(buf.samples[b].labels.name())
    });
    let mut out = String::with_capacity(buf.samples.len() * 64);
    let mut last = "";
    for i in idx {
        let s = &buf.samples[i];
        let name = s.labels.name();
        if name != last {
            let help = s.help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {}", metric_type(name));
            last = name;
        }
        out.push_str(name);
        let mut first = true;
        for (k, v) in s.labels.pairs() {
            if k == "__name__" {
                continue;
            }
            out.push(if first { '{' } else { ',' });
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label(v, &mut out);
            out.push('"');
        }
        if !first {
            out.push('}');
        }
        out.push(' ');
        format_value(s.value, &mut out);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_grouped_and_escaped() {
        let mut b = SeriesBuf::default();
        b.push("x_total", "X.", &[("mode", "a\"b")], 1.5);
        b.push("a", "A.", &[], f64::NAN);
        b.push("x_total", "X.", &[("mode", "c")], 2.0);
        let t = render(&b);
        assert_eq!(
            t,
            "# HELP a A.\n# TYPE a gauge\na NaN\n# HELP x_total X.\n# TYPE x_total counter\n\
             x_total{mode=\"a\\\"b\"} 1.5\nx_total{mode=\"c\"} 2\n"
        );
    }
}
