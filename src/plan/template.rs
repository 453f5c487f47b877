//! `{placeholder}` templates in ids and paths (`out/{name}.fsm`).
//! `{{` and `}}` stand for literal braces.

/// Split a template into literal text and placeholder names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Brace(char),
    Var(&'a str),
}

fn pieces(t: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let b = t.as_bytes();
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        match b[i] {
            b'{' if b.get(i + 1) == Some(&b'{') => {
                out.push(Piece::Text(&t[start..i]));
                out.push(Piece::Brace('{'));
                i += 2;
                start = i;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => {
                out.push(Piece::Text(&t[start..i]));
                out.push(Piece::Brace('}'));
                i += 2;
                start = i;
            }
            b'{' => {
                let Some(len) = t[i + 1..].find('}') else {
                    return Err(format!("unclosed `{{` at character {}", i + 1));
                };
                out.push(Piece::Text(&t[start..i]));
                out.push(Piece::Var(&t[i + 1..i + 1 + len]));
                i += len + 2;
                start = i;
            }
            b'}' => {
                return Err(format!(
                    "stray `}}` at character {} (write `}}}}` for a literal brace)",
                    i + 1
                ));
            }
            _ => i += 1,
        }
    }
    out.push(Piece::Text(&t[start..]));
    Ok(out)
}

/// Check a template's syntax and that it only uses `allowed` placeholders.
pub fn check(t: &str, allowed: &[&str]) -> Result<(), String> {
    for p in pieces(t)? {
        if let Piece::Var(v) = p {
            if !allowed.contains(&v) {
                let list: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
                return Err(if list.is_empty() {
                    format!("unknown placeholder {{{v}}}: no placeholders are available here")
                } else {
                    format!(
                        "unknown placeholder {{{v}}}: available here: {}",
                        list.join(", ")
                    )
                });
            }
        }
    }
    Ok(())
}

/// Fill a template; a placeholder without a value is an error naming it.
pub fn render(t: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut s = String::with_capacity(t.len() + 16);
    for p in pieces(t)? {
        match p {
            Piece::Text(x) => s.push_str(x),
            Piece::Brace(c) => s.push(c),
            Piece::Var(v) => match value(v) {
                Some(x) => s.push_str(&x),
                None => return Err(format!("placeholder {{{v}}} has no value here")),
            },
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(v: &str) -> Option<String> {
        match v {
            "name" => Some("cluster-1".into()),
            "id" => Some("c1".into()),
            _ => None,
        }
    }

    #[test]
    fn renders_placeholders_and_escapes() {
        assert_eq!(render("out/{name}.fsm", vals).unwrap(), "out/cluster-1.fsm");
        assert_eq!(render("{{{id}}}", vals).unwrap(), "{c1}");
        assert_eq!(render("plain", vals).unwrap(), "plain");
        assert!(render("{parent}", vals).unwrap_err().contains("{parent}"));
    }

    #[test]
    fn checks_syntax_and_names() {
        assert!(check("out/{name}.fsm", &["name", "id"]).is_ok());
        assert!(
            check("out/{nme}.fsm", &["name"])
                .unwrap_err()
                .contains("{name}")
        );
        assert!(
            check("out/{name.fsm", &["name"])
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(
            check("out/name}.fsm", &["name"])
                .unwrap_err()
                .contains("stray")
        );
    }

    proptest::proptest! {
        #[test]
        fn text_without_braces_renders_to_itself(s in "[^{}]{0,40}") {
            proptest::prop_assert_eq!(render(&s, vals).unwrap(), s);
        }

        #[test]
        fn escaped_braces_round_trip(s in "[a-z{}]{0,30}") {
            let t = s.replace('{', "{{").replace('}', "}}");
            proptest::prop_assert_eq!(render(&t, vals).unwrap(), s);
        }
    }
}
