//! FastCGI records and name-value pairs as the responder reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upspool::gateway::fastcgi::{decode_pairs, read_content, read_header};

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    for _ in 0..256 {
        let Ok(Some(header)) = read_header(&mut input) else { break };
        let Ok(content) = read_content(&mut input, &header) else { break };
        if header.kind == 4 || header.kind == 9 {
            let _ = decode_pairs(&content);
        }
    }
    let _ = decode_pairs(data);
});
