fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let src = std::fs::read_to_string(&path).unwrap_or_default();
    match compiler::yaml::parse_documents(&src) {
        Ok(docs) => {
            for d in docs {
                dump(&d, &src, 0)
            }
        }
        Err(e) => println!(
            "ERR {:?} -> {:?}",
            e,
            e.span.as_ref().and_then(|s| src.get(s.clone()))
        ),
    }
}
fn dump(n: &compiler::yaml::Node, src: &str, ind: usize) {
    use compiler::yaml::NodeKind::*;
    let t = src.get(n.span.clone()).unwrap_or("?");
    match &n.kind {
        Map(es) => {
            println!(
                "{:ind$}MAP {:?} {:?}",
                "",
                n.span,
                t.chars().take(20).collect::<String>()
            );
            for (k, v) in es {
                dump(k, src, ind + 2);
                dump(v, src, ind + 4);
            }
        }
        Seq(es) => {
            println!("{:ind$}SEQ {:?}", "", n.span);
            for v in es {
                dump(v, src, ind + 2);
            }
        }
        other => println!("{:ind$}{:?} {:?} src={:?}", "", other, n.span, t),
    }
}
