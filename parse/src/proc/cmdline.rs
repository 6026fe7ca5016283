//! `/proc/cmdline`: the kernel command line. Diskless nodes get their per-node parameters from
//! PXE this way (`hvscope.aggregator=HOST:PORT`, `hvscope.rack=R`).

/// The `hvscope.*` parameters of a kernel command line, in order, as (key without prefix, value).
/// A parameter given twice keeps both; callers take the last, as the kernel does for `init=`.
/// Double-quoted values (`hvscope.rack="r 1"`) are unquoted.
pub fn hvscope_params(cmdline: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for word in split_words(cmdline) {
        if word == "--" {
            break; // what follows belongs to init
        }
        if let Some(rest) = word.strip_prefix("hvscope.")
            && let Some((k, v)) = rest.split_once('=')
            && !k.is_empty()
        {
            out.push((k.to_owned(), v.replace('"', "")));
        }
    }
    out
}

/// Splits like the kernel's `next_arg`: whitespace separates, double quotes group.
fn split_words(s: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            c if c.is_whitespace() && !quoted => {
                if let Some(st) = start.take() {
                    words.push(&s[st..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(st) = start {
        words.push(&s[st..]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hvscope_params() {
        let p = hvscope_params(
            "console=ttyS0 hvscope.aggregator=10.0.0.1:4317 hvscope.rack=\"r 12\" quiet \
             hvscope.=x hvscope.noval -- hvscope.rack=init-arg",
        );
        assert_eq!(
            p,
            vec![
                ("aggregator".into(), "10.0.0.1:4317".into()),
                ("rack".into(), "r 12".into())
            ]
        );
    }

    #[test]
    fn real_cmdline_has_none() {
        let real = include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/cmdline");
        assert!(hvscope_params(real).is_empty());
        assert!(hvscope_params("").is_empty());
    }
}
