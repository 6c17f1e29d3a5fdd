//! A real HTTP/1.1 server on 127.0.0.1 with a behaviour per path, so downloads are tested
//! against actual sockets: status codes, cut bodies, stalls and redirect loops.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Clone)]
pub enum Behaviour {
    /// 200 with the whole body.
    Ok(Vec<u8>),
    /// This status and a short text body.
    Status(u16),
    /// `Content-Length` of the whole body, only its first half, then the connection closes.
    CutShort(Vec<u8>),
    /// `Content-Length` of the whole body, its first half, then silence for a long time.
    Stall(Vec<u8>),
    /// Reads the request and answers nothing for a long time.
    Silent,
    /// 200 with a `Content-Length` of this many bytes, then silence for a long time.
    HeadersThenSilence(usize),
    /// 302 to this path on the same server.
    Redirect(String),
}

#[derive(Clone, Default)]
struct Shared {
    routes: Arc<Mutex<HashMap<String, Behaviour>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

pub struct TestServer {
    address: SocketAddr,
    shared: Shared,
}

impl TestServer {
    /// Serves until the test process ends; unknown paths get a 404.
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Shared::default();
        let for_thread = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = for_thread.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        TestServer { address, shared }
    }

    pub fn route(&self, path: &str, behaviour: Behaviour) -> &TestServer {
        self.shared.routes.lock().unwrap().insert(path.to_string(), behaviour);
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Headers are read and ignored; the request has no body.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    shared.requests.lock().unwrap().push(path.clone());
    let behaviour =
        shared.routes.lock().unwrap().get(&path).cloned().unwrap_or(Behaviour::Status(404));
    // Errors writing mean the client gave up, which some tests make it do.
    let _ = respond(&mut stream, behaviour);
}

fn respond(stream: &mut TcpStream, behaviour: Behaviour) -> std::io::Result<()> {
    let head = |status: &str, length: usize, extra: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n{extra}\r\n")
    };
    match behaviour {
        Behaviour::Ok(body) => {
            stream.write_all(head("200 OK", body.len(), "").as_bytes())?;
            stream.write_all(&body)?;
        }
        Behaviour::Status(code) => {
            let body = format!("status {code}\n");
            stream.write_all(head(&format!("{code} Test"), body.len(), "").as_bytes())?;
            stream.write_all(body.as_bytes())?;
        }
        Behaviour::CutShort(body) => {
            stream.write_all(head("200 OK", body.len(), "").as_bytes())?;
            stream.write_all(&body[..body.len() / 2])?;
        }
        Behaviour::Stall(body) => {
            stream.write_all(head("200 OK", body.len(), "").as_bytes())?;
            stream.write_all(&body[..body.len() / 2])?;
            stream.flush()?;
            std::thread::sleep(Duration::from_secs(60));
        }
        Behaviour::Silent => std::thread::sleep(Duration::from_secs(60)),
        Behaviour::HeadersThenSilence(length) => {
            stream.write_all(head("200 OK", length, "").as_bytes())?;
            stream.flush()?;
            std::thread::sleep(Duration::from_secs(60));
        }
        Behaviour::Redirect(location) => {
            stream
                .write_all(head("302 Found", 0, &format!("Location: {location}\r\n")).as_bytes())?;
        }
    }
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Ok(())
}
