//! Log lines on standard error: under CGI and FastCGI launchers that is the
//! web server's error log; under `serve` the terminal. One line per event.

use std::fmt::Arguments;
use std::io::Write;

fn line(level: &str, args: Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "upspool[{}]: {level}: {args}", std::process::id());
}

pub fn info(args: Arguments<'_>) {
    line("info", args);
}

pub fn warn(args: Arguments<'_>) {
    line("warning", args);
}

pub fn error(args: Arguments<'_>) {
    line("error", args);
}
