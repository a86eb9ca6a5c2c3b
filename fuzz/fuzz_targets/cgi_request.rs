//! CGI meta-variables (NUL-separated `NAME=value` pairs, then a 0xff and the
//! body) turned into a request, and the query string parsed.
#![no_main]

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use upspool::gateway::cgi::{Environment, request};
use upspool::protocol::params::Params;

fuzz_target!(|data: &[u8]| {
    let (vars, body) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let pairs = vars.split(|&b| b == 0).filter_map(|kv| {
        let eq = kv.iter().position(|&b| b == b'=')?;
        Some((OsString::from_vec(kv[..eq].to_vec()), OsString::from_vec(kv[eq + 1..].to_vec())))
    });
    let env = Environment::from_pairs(pairs);
    if let Ok(mut req) = request(&env, std::io::Cursor::new(body.to_vec())) {
        let _ = Params::parse(req.query.as_bytes());
        let mut sink = Vec::new();
        let _ = req.body.read_to_end(&mut sink);
    }
    let _ = Params::parse(vars);
    let _ = Params::from_json(body);
});
