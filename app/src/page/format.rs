//! Plain-words formatting of scan facts (numbers, sizes). Pure, unit-tested natively.

/// A measurement without noise: integers as integers, others with up to 4 significant
/// digits, no trailing zeros ("1", "0.9375", "1.2e+03" never appears for ordinary values).
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 10) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A plain-text report for a bug tracker: a title line, then per section a heading and
/// `key: value` lines (line breaks inside values become spaces, so every fact is one line).
pub fn report(title: &str, sections: &[(&str, Vec<(String, String)>)]) -> String {
    let mut out = format!("{title}\n");
    for (heading, facts) in sections {
        out.push_str(&format!("\n[{heading}]\n"));
        for (key, value) in facts {
            out.push_str(&format!("{key}: {}\n", value.replace(['\n', '\r'], " ")));
        }
    }
    out
}

/// "181 × 217 × 181"
pub fn triple(v: [f64; 3]) -> String {
    v.map(number).join(" × ")
}

/// "3.4 MB", "512 bytes" (decimal units, as file managers show them).
pub fn bytes(n: usize) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut unit = "";
    for u in UNITS {
        v /= 1000.0;
        unit = u;
        if v < 1000.0 {
            break;
        }
    }
    format!("{v:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_has_one_line_per_fact() {
        let text = report(
            "brainfm 1.0",
            &[
                ("Browser", vec![("User agent".into(), "X\nY".into())]),
                ("Model", vec![]),
            ],
        );
        assert_eq!(
            text,
            "brainfm 1.0\n\n[Browser]\nUser agent: X Y\n\n[Model]\n"
        );
    }

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(number(255.0), "255");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(0.9375), "0.9375");
        assert_eq!(number(1.000_000_1), "1");
        assert_eq!(number(1234.567), "1235");
        assert_eq!(number(0.012_345_6), "0.01235");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn triples_and_sizes() {
        assert_eq!(triple([181.0, 217.0, 181.0]), "181 × 217 × 181");
        assert_eq!(triple([1.0, 1.0, 2.5]), "1 × 1 × 2.5");
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(3_400_000), "3.4 MB");
        assert_eq!(bytes(7_100_000_000), "7.1 GB");
    }
}
