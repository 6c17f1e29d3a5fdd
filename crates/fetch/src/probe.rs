//! Whether a URL answers at all, and quickly: what a caller checks before handing the URL to a
//! program that would retry it for minutes (LAVA's dispatcher, for a job's images).

use std::time::Duration;

/// A GET of `url` (http or https) whose response must begin within `within`; its body is not
/// read. `Ok` with the HTTP status when the server answered (whatever the status), `Err` with
/// the reason when it did not (no connection, a name not found, silence, a bad URL).
pub fn answers(url: &str, within: Duration) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(within))
        .http_status_as_error(false)
        .accept_encoding("identity")
        .build()
        .new_agent();
    match agent.get(url).call() {
        Ok(response) => Ok(response.status().as_u16()),
        Err(ureq::Error::Timeout(_)) => Err(format!("no answer within {} s", within.as_secs_f64())),
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::TcpListener,
        time::Instant,
    };

    use super::*;

    #[test]
    fn a_closed_port_and_a_silent_server_do_not_answer_and_a_server_does() {
        // a port nothing listens on: refused at once
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let start = Instant::now();
        assert!(answers(&format!("http://127.0.0.1:{port}/x"), Duration::from_secs(3)).is_err());
        assert!(start.elapsed() < Duration::from_secs(3));

        // a server that accepts and says nothing: given up on after the time given
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", silent.local_addr().unwrap());
        let start = Instant::now();
        let err = answers(&url, Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("no answer"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3));
        drop(silent);

        // a server that answers 404: an answer
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", server.local_addr().unwrap());
        let thread = std::thread::spawn(move || {
            let (mut stream, _) = server.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).unwrap();
            stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").unwrap();
        });
        assert_eq!(answers(&url, Duration::from_secs(3)), Ok(404));
        thread.join().unwrap();
    }
}
