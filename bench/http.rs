//! A minimal HTTP/1.1 keep-alive GET client on a std `TcpStream`, for the latency
//! measurements: on a 2-CPU machine the client shares the CPUs with the server, so
//! the less it spends per request, the more of each figure is the server's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Conn {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Conn {
    /// `addr` as `127.0.0.1:PORT`; the connection is opened on first use.
    pub fn new(addr: &str) -> Conn {
        Conn {
            addr: addr.to_string(),
            stream: None,
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>, String> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr)
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            s.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .map_err(|e| format!("timeout: {e}"))?;
            self.stream = Some(BufReader::with_capacity(64 * 1024, s));
        }
        Ok(self.stream.as_mut().expect("just connected"))
    }

    /// `GET path`: the status and the body. One retry on a fresh connection when a
    /// kept-alive one turns out closed.
    pub fn get(&mut self, path: &str) -> Result<(u16, Vec<u8>), String> {
        self.get_with(path, &[])
    }

    /// `GET path` with extra request headers.
    pub fn get_with(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), String> {
        match self.try_get(path, headers) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.stream = None;
                self.try_get(path, headers)
            }
        }
    }

    fn try_get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<(u16, Vec<u8>), String> {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let s = self.connect()?;
        s.get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let mut line = String::new();
        s.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut len = None;
        let mut close = false;
        loop {
            line.clear();
            s.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                    close = true;
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(format!("unexpected transfer-encoding {v}"));
                }
            }
        }
        let len = len.ok_or("response without content-length")?;
        let mut body = vec![0; len];
        s.read_exact(&mut body)
            .map_err(|e| format!("read body: {e}"))?;
        if close {
            self.stream = None;
        }
        Ok((status, body))
    }
}
