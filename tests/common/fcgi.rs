//! FastCGI records written and read by hand, so tests control every byte.

#![allow(dead_code)]

use std::io::Read;

pub const BEGIN: u8 = 1;
pub const ABORT: u8 = 2;
pub const END: u8 = 3;
pub const PARAMS: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDOUT: u8 = 6;
pub const GET_VALUES: u8 = 9;
pub const GET_VALUES_RESULT: u8 = 10;

pub fn record(kind: u8, id: u16, content: &[u8]) -> Vec<u8> {
    let mut out = vec![
        1,
        kind,
        (id >> 8) as u8,
        id as u8,
        (content.len() >> 8) as u8,
        content.len() as u8,
        0,
        0,
    ];
    out.extend_from_slice(content);
    out
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in list {
        for len in [n.len(), v.len()] {
            if len < 128 {
                out.push(len as u8);
            } else {
                out.extend_from_slice(&((len as u32) | 0x8000_0000).to_be_bytes());
            }
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// BEGIN_REQUEST and the params of one request, as bytes.
pub fn request_head(id: u16, keep: bool, params: &[(&str, &str)]) -> Vec<u8> {
    let mut out = record(BEGIN, id, &[0, 1, keep as u8, 0, 0, 0, 0, 0]);
    for piece in pairs(params).chunks(65535) {
        out.extend(record(PARAMS, id, piece));
    }
    out.extend(record(PARAMS, id, &[]));
    out
}

/// `body` in STDIN records, then the empty one that ends it.
pub fn stdin_records(id: u16, body: &[u8]) -> Vec<u8> {
    let mut out = stdin_data(id, body);
    out.extend(record(STDIN, id, &[]));
    out
}

/// `body` in STDIN records (not ended).
pub fn stdin_data(id: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(32768) {
        out.extend(record(STDIN, id, piece));
    }
    out
}

/// Reads records until END_REQUEST; returns the STDOUT bytes.
pub fn read_answer(stream: &mut impl Read) -> Vec<u8> {
    read_answer_opt(stream).expect("a whole FastCGI answer")
}

/// Reads records until END_REQUEST; returns the STDOUT bytes, or `None`
/// when the connection ends (or fails) first.
pub fn read_answer_opt(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut stdout = Vec::new();
    loop {
        let mut h = [0u8; 8];
        stream.read_exact(&mut h).ok()?;
        let len = u16::from_be_bytes([h[4], h[5]]) as usize + h[6] as usize;
        let mut content = vec![0u8; len];
        stream.read_exact(&mut content).ok()?;
        content.truncate(u16::from_be_bytes([h[4], h[5]]) as usize);
        match h[1] {
            STDOUT => stdout.extend(content),
            END => return Some(stdout),
            _ => {}
        }
    }
}
