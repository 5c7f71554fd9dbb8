use super::fixtures::*;
use crate::pgtype::PgType;
use crate::value::Value;

fn run_case(label: &str, body: &str, target_types: &[PgType]) {
    let names: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
    let src_types = [PgType::Int4, PgType::Text, PgType::Text, PgType::Int4, PgType::Int8, numeric(12, 2), ts(), PgType::Bool, PgType::Text, PgType::Int4, PgType::Text];
    let source = table("public", "t", names.iter().zip(&src_types).map(|(n, t)| col(n, t.clone())).collect(), &["c0"]);
    let target = table("public", "t", names.iter().zip(target_types).map(|(n, t)| col(n, t.clone())).collect(), &["c0"]);
    let m = mapping(body);
    let p = program(&m, &source, &target);
    let rows = 8192usize;
    let vals = |i: usize, j: usize| -> Option<Value> {
        match src_types[i] {
            PgType::Int4 | PgType::Int8 => int((j * 7 + i) as i64),
            PgType::Text => text(&format!("  Value {j} of {i} ")),
            PgType::Numeric { .. } => Some(Value::Numeric(format!("{j}.25"))),
            PgType::Timestamp { .. } => Some(Value::Timestamp(j as i64 * 1_000_000)),
            PgType::Bool => Some(Value::Bool(j % 2 == 0)),
            _ => None,
        }
    };
    let cols: Vec<(&str, Vec<Option<Value>>)> = names.iter().enumerate().map(|(i, n)| (n.as_str(), (0..rows).map(|j| vals(i, j)).collect())).collect();
    let batch = input(&p, &cols);
    let iters = 60;
    let start = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..iters {
        let out = p.run(&batch);
        n += out.batch.num_rows();
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{label}: {:.2} M rows/s", n as f64 / secs / 1e6);
}

#[test]
#[ignore]
fn perf() {
    let src_types = [PgType::Int4, PgType::Text, PgType::Text, PgType::Int4, PgType::Int8, numeric(12, 2), ts(), PgType::Bool, PgType::Text, PgType::Int4, PgType::Text];
    run_case("identity", "[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n", &src_types);
    let mut t2 = src_types.clone().to_vec();
    t2[3] = PgType::Int8; // cast
    t2[0] = PgType::Uuid;
    run_case("uuid+cast+trim", "[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n[tables.columns.c0]\nuuid = { table = \"t\", from = \"c0\" }\n[tables.columns.c1]\nfrom = \"c1\"\ntrim = true\n", &t2);
    let mut t = src_types.to_vec(); t[0] = PgType::Uuid;
    run_case("uuid only", "[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n[tables.columns.c0]\nuuid = { table = \"t\", from = \"c0\" }\n", &t);
    run_case("trim only", "[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n[tables.columns.c1]\nfrom = \"c1\"\ntrim = true\n", &src_types);
    let mut t = src_types.to_vec(); t[3] = PgType::Int8;
    run_case("int cast only", "[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n", &t);
    let mut t = src_types.to_vec(); t[1] = varchar(50);
    run_case("varchar only", "[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n", &t);
    let mut t = src_types.to_vec(); t[6] = tstz();
    run_case("tz only", "[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n[tables.columns.c6]\nfrom = \"c6\"\ntimezone = \"America/New_York\"\n", &t);
    let mut t3 = src_types.clone().to_vec();
    for t in t3.iter_mut() { if *t == PgType::Int4 { *t = PgType::Int8 } else if *t == PgType::Text { *t = varchar(50) } }
    t3[0] = PgType::Int8;
    run_case("all cast", "[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n", &t3);
}
