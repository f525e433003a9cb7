//! The pure half of TCN verification, per request: parse the two headers, build the string
//! to sign, HMAC-SHA256 and compare in constant time. (The server adds one indexed read and
//! a cache lookup: see `crates/http/benches/hot_path.rs`.)

use std::hint::black_box;

use caretaker_domain::clock::Timestamp;
use caretaker_domain::tcn;
use criterion::{Criterion, criterion_group, criterion_main};

const TOKEN: &str = "6f1c2d0e-8a5b-4c3d-9e7f-0a1b2c3d4e5f";
const SECRET: &[u8] = b"cts_4Qm9c2Vh7Rk1Xw8Zp3Lb6Nd0Ty5Gs2Jf9Ua4Ke7Hq1Mv8Wc3Xz_5d2a";
const PATH: &str = "/rest/tasks/bench-tenant/T000123";

fn verification(c: &mut Criterion) {
    let timestamp = tcn::format_timestamp(Timestamp::from_unix_micros(1_750_000_000_000_000));
    let authorization = tcn::sign("GET", PATH, &timestamp, TOKEN, SECRET, None);

    c.bench_function("tcn/sign (client side)", |b| {
        b.iter(|| tcn::sign(black_box("GET"), black_box(PATH), black_box(&timestamp), TOKEN, SECRET, None))
    });
    c.bench_function("tcn/parse headers", |b| {
        b.iter(|| {
            let parsed = tcn::parse_authorization(black_box(authorization.as_bytes()));
            let at = tcn::parse_timestamp(black_box(timestamp.as_bytes()));
            (parsed.is_ok(), at.is_ok())
        })
    });
    c.bench_function("tcn/verify (parse, path forms, string to sign, HMAC, compare)", |b| {
        b.iter(|| {
            let Ok(parsed) = tcn::parse_authorization(black_box(authorization.as_bytes())) else { return false };
            let Ok(_) = tcn::parse_timestamp(black_box(timestamp.as_bytes())) else { return false };
            let (raw, decoded) = tcn::path_forms(black_box(PATH));
            let to_sign = tcn::string_to_sign("GET", decoded.as_deref().unwrap_or(raw), &timestamp, None);
            tcn::verify(SECRET, &to_sign, parsed.digest)
        })
    });
}

criterion_group!(benches, verification);
criterion_main!(benches);
