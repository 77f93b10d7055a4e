//! A TCP proxy in front of a Redis that can stall: while stalled it forwards nothing in either
//! direction but keeps every socket open, so a client behind it sees a connection that hangs,
//! not one that breaks (the case a dead connection's error handling never covers).
//!
//! In front of a Cluster ([`StallProxy::start_cluster`]) it listens once per master and reads
//! the protocol: a cluster client learns node addresses from the server (`CLUSTER SLOTS`
//! replies, `MOVED` and `ASK` errors), so those addresses are rewritten to the proxy's own
//! ports, and every connection the client opens, to any master, goes through the proxy.
#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A proxy on free ports of 127.0.0.1 that forwards every connection to its target (one per
/// port). Stops (and closes its connections) on drop.
#[derive(Debug)]
pub struct StallProxy {
    ports: Vec<u16>,
    stalled: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl StallProxy {
    /// Starts forwarding to the server at `target` (`127.0.0.1:6379`), byte for byte.
    pub async fn start(target: SocketAddr) -> Result<Self, String> {
        Self::listen(&[target], false).await
    }

    /// Starts forwarding to the masters of a Cluster, one port for each, rewriting the node
    /// ports the Cluster hands out (in `CLUSTER SLOTS` replies and `MOVED`/`ASK` errors) to
    /// these ports; every port stalls and resumes together. A node the masters name that is not
    /// among `masters` (a replica, a node added later) keeps its own port: it is not proxied.
    pub async fn start_cluster(masters: &[SocketAddr]) -> Result<Self, String> {
        Self::listen(masters, true).await
    }

    async fn listen(targets: &[SocketAddr], cluster: bool) -> Result<Self, String> {
        let mut listeners = Vec::new();
        for _ in targets {
            let listener = TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(|e| format!("proxy: cannot listen: {e}"))?;
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            listeners.push((listener, port));
        }
        let ports: Vec<u16> = listeners.iter().map(|&(_, port)| port).collect();
        let rewrite = cluster.then(|| {
            Arc::new(
                targets
                    .iter()
                    .map(SocketAddr::port)
                    .zip(ports.iter().copied())
                    .collect::<HashMap<u16, u16>>(),
            )
        });
        let (stalled, watch) = watch::channel(false);
        let tasks = listeners
            .into_iter()
            .zip(targets)
            .map(|((listener, _), &target)| {
                tokio::spawn(accept(listener, target, watch.clone(), rewrite.clone()))
            })
            .collect();
        Ok(Self {
            ports,
            stalled,
            tasks,
        })
    }

    /// The proxy's URL: `redis://127.0.0.1:<port>`, or for a Cluster every port,
    /// `redis://127.0.0.1:<port>,127.0.0.1:<port>,...`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis://{}", nodes.join(","))
    }

    /// The port it listens on (the first, for a Cluster).
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// Every port it listens on, in the order of the targets.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Stops forwarding, in both directions, on every connection (new ones too), until
    /// [`StallProxy::resume`]. Bytes sent meanwhile wait in the proxy and go on after.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Forwards again, starting with what waited.
    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }

    /// Whether it is stalled now.
    pub fn is_stalled(&self) -> bool {
        *self.stalled.borrow()
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Accepts connections on one port and pumps each to a new connection to `target` (a target
/// that is down, restarting, refuses: the client's connection is closed and it tries again).
/// Aborting it closes every connection it made.
async fn accept(
    listener: TcpListener,
    target: SocketAddr,
    stalled: watch::Receiver<bool>,
    rewrite: Option<Arc<HashMap<u16, u16>>>,
) {
    let mut pumps = tokio::task::JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        let Ok(server) = TcpStream::connect(target).await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let (requests, replies) = match &rewrite {
            None => (Framing::Raw, Framing::Raw),
            Some(ports) => {
                let asked = Arc::new(Mutex::new(VecDeque::new()));
                (
                    Framing::Requests(Arc::clone(&asked)),
                    Framing::Replies(asked, Arc::clone(ports)),
                )
            }
        };
        pumps.spawn(pump(client_read, server_write, stalled.clone(), requests));
        pumps.spawn(pump(server_read, client_write, stalled.clone(), replies));
        while pumps.try_join_next().is_some() {}
    }
}

/// Copies `from` to `to` through `framing`, holding each chunk while the proxy is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
    framing: Framing,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    // Bytes of a frame not complete yet, and what goes out (when reading the protocol).
    let (mut carry, mut out) = (Vec::new(), Vec::new());
    loop {
        if stalled.wait_for(|stalled| !stalled).await.is_err() {
            return;
        }
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.wait_for(|stalled| !stalled).await.is_err() {
            return;
        }
        let written = if let Framing::Raw = framing {
            to.write_all(&buffer[..n]).await
        } else {
            carry.extend_from_slice(&buffer[..n]);
            out.clear();
            let Some(used) = framing.frames(&carry, &mut out) else {
                return; // not RESP: close rather than guess
            };
            carry.drain(..used);
            to.write_all(&out).await
        };
        if written.is_err() {
            return;
        }
    }
}

/// What a pump does to the bytes it forwards.
enum Framing {
    /// Forwards them as they are.
    Raw,
    /// Client to server: forwards whole requests, noting for each (in order) whether it is
    /// `CLUSTER SLOTS`.
    Requests(Arc<Mutex<VecDeque<bool>>>),
    /// Server to client: forwards whole replies, one per request noted, rewriting node ports
    /// (a master's port to the proxy's) in the replies to `CLUSTER SLOTS` and in `MOVED`/`ASK`
    /// errors.
    Replies(Arc<Mutex<VecDeque<bool>>>, Arc<HashMap<u16, u16>>),
}

impl Framing {
    /// Appends every complete frame at the start of `input` to `out`, rewritten where needed,
    /// and answers how many bytes of `input` they took (a partial frame waits for the rest);
    /// `None` when the bytes are not RESP.
    fn frames(&self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        let mut at = 0;
        while let Some(len) = resp::frame_len(&input[at..]).ok()? {
            let frame = &input[at..at + len];
            at += len;
            match self {
                Self::Raw => out.extend_from_slice(frame),
                Self::Requests(asked) => {
                    if let Ok(mut asked) = asked.lock() {
                        asked.push_back(resp::is_cluster_slots(frame));
                    }
                    out.extend_from_slice(frame);
                }
                Self::Replies(asked, ports) => {
                    // A push (RESP3) answers no request.
                    let slots = frame.first() != Some(&b'>')
                        && asked
                            .lock()
                            .ok()
                            .and_then(|mut asked| asked.pop_front())
                            .unwrap_or(false);
                    resp::forward_reply(frame, slots, ports, out);
                }
            }
        }
        Some(at)
    }
}

mod resp {
    //! Just enough of RESP (2 and 3) to find where a frame ends, tell a `CLUSTER SLOTS`
    //! request, and rewrite ports in its reply and in redirection errors.

    use std::collections::HashMap;

    /// Not RESP.
    #[derive(Debug)]
    pub(super) struct Malformed;

    /// The length of the first complete frame of `buf`; `None` while it is incomplete. An
    /// attribute (`|`) is one frame with the value it annotates.
    pub(super) fn frame_len(buf: &[u8]) -> Result<Option<usize>, Malformed> {
        if buf.is_empty() {
            return Ok(None);
        }
        if !is_type(buf[0]) {
            // An inline command: one line.
            return Ok(buf.iter().position(|&b| b == b'\n').map(|end| end + 1));
        }
        let mut at = 0;
        let mut left = 1usize;
        while left > 0 {
            left -= 1;
            let Some(end) = line_end(buf, at) else {
                return Ok(None);
            };
            let (kind, head) = (buf[at], &buf[at + 1..end]);
            at = end + 2;
            match kind {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
                b'$' | b'!' | b'=' => {
                    if let Ok(len) = usize::try_from(number(head)?) {
                        at += len + 2;
                        if at > buf.len() {
                            return Ok(None);
                        }
                    }
                }
                b'*' | b'~' | b'>' => left += usize::try_from(number(head)?).unwrap_or(0),
                b'%' => left += 2 * usize::try_from(number(head)?).unwrap_or(0),
                b'|' => left += 2 * usize::try_from(number(head)?).unwrap_or(0) + 1,
                _ => return Err(Malformed),
            }
        }
        Ok(Some(at))
    }

    fn is_type(byte: u8) -> bool {
        b"+-:_,#($!=*~>%|".contains(&byte)
    }

    /// Where the line that starts at `at` ends (the index of its `\r\n`).
    fn line_end(buf: &[u8], at: usize) -> Option<usize> {
        buf.get(at..)?
            .windows(2)
            .position(|pair| pair == b"\r\n")
            .map(|offset| at + offset)
    }

    fn number(text: &[u8]) -> Result<i64, Malformed> {
        std::str::from_utf8(text)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or(Malformed)
    }

    /// Whether a complete request frame is `CLUSTER SLOTS` (any case).
    pub(super) fn is_cluster_slots(frame: &[u8]) -> bool {
        let words: Vec<Vec<u8>> = match parse(frame, &mut 0) {
            Some(Value::Aggregate(_, Some(items))) => items
                .into_iter()
                .take(2)
                .filter_map(|item| match item {
                    Value::Bulk(_, Some(word)) => Some(word),
                    _ => None,
                })
                .collect(),
            // An inline command.
            _ => frame
                .split(u8::is_ascii_whitespace)
                .filter(|word| !word.is_empty())
                .take(2)
                .map(<[u8]>::to_vec)
                .collect(),
        };
        matches!(&words[..], [cluster, slots]
            if cluster.eq_ignore_ascii_case(b"cluster") && slots.eq_ignore_ascii_case(b"slots"))
    }

    /// Appends a complete reply frame to `out`: the ports rewritten if it answers `CLUSTER
    /// SLOTS` (`slots`) or is a `MOVED`/`ASK` error, else as it is.
    pub(super) fn forward_reply(
        frame: &[u8],
        slots: bool,
        ports: &HashMap<u16, u16>,
        out: &mut Vec<u8>,
    ) {
        if frame.starts_with(b"-MOVED ") || frame.starts_with(b"-ASK ") {
            out.extend_from_slice(&redirection(frame, ports));
            return;
        }
        if slots && let Some(mut value) = parse(frame, &mut 0) {
            rewrite_slots(&mut value, ports);
            value.write(out);
            return;
        }
        out.extend_from_slice(frame);
    }

    /// `-MOVED <slot> <host>:<port>\r\n` with the port mapped.
    fn redirection(frame: &[u8], ports: &HashMap<u16, u16>) -> Vec<u8> {
        let line = String::from_utf8_lossy(frame);
        let line = line.trim_end();
        let mapped = line.rsplit_once(':').and_then(|(head, port)| {
            let port = ports.get(&port.parse().ok()?)?;
            Some(format!("{head}:{port}\r\n"))
        });
        mapped.map_or_else(|| frame.to_vec(), String::into_bytes)
    }

    /// In a `CLUSTER SLOTS` reply (`[[start, end, [host, port, id, ..], ..], ..]`), maps the
    /// port of every node.
    fn rewrite_slots(value: &mut Value, ports: &HashMap<u16, u16>) {
        let Value::Aggregate(_, Some(ranges)) = value else {
            return;
        };
        for range in ranges {
            let Value::Aggregate(_, Some(parts)) = range else {
                continue;
            };
            for node in parts.iter_mut().skip(2) {
                let Value::Aggregate(_, Some(fields)) = node else {
                    continue;
                };
                if let Some(Value::Line(b':', port)) = fields.get_mut(1) {
                    let mapped = std::str::from_utf8(port)
                        .ok()
                        .and_then(|port| port.parse::<u16>().ok())
                        .and_then(|port| ports.get(&port));
                    if let Some(mapped) = mapped {
                        *port = mapped.to_string().into_bytes();
                    }
                }
            }
        }
    }

    /// A parsed frame.
    #[derive(Debug)]
    enum Value {
        /// `+ - : _ , # (`: the type and the line.
        Line(u8, Vec<u8>),
        /// `$ ! =`: the type and the bytes (`None`: null).
        Bulk(u8, Option<Vec<u8>>),
        /// `* ~ > % |`: the type and the items (a map's keys and values in turn; an
        /// attribute's pairs, then the value it annotates).
        Aggregate(u8, Option<Vec<Value>>),
    }

    /// Parses the frame at `*at` of a complete frame.
    fn parse(buf: &[u8], at: &mut usize) -> Option<Value> {
        let end = line_end(buf, *at)?;
        let (kind, head) = (buf[*at], &buf[*at + 1..end]);
        *at = end + 2;
        Some(match kind {
            b'$' | b'!' | b'=' => match usize::try_from(number(head).ok()?) {
                Ok(len) => {
                    let bytes = buf.get(*at..*at + len)?.to_vec();
                    *at += len + 2;
                    Value::Bulk(kind, Some(bytes))
                }
                Err(_) => Value::Bulk(kind, None),
            },
            b'*' | b'~' | b'>' | b'%' | b'|' => match usize::try_from(number(head).ok()?) {
                Ok(count) => {
                    let items = match kind {
                        b'%' => 2 * count,
                        b'|' => 2 * count + 1,
                        _ => count,
                    };
                    let mut values = Vec::with_capacity(items);
                    for _ in 0..items {
                        values.push(parse(buf, at)?);
                    }
                    Value::Aggregate(kind, Some(values))
                }
                Err(_) => Value::Aggregate(kind, None),
            },
            _ => Value::Line(kind, head.to_vec()),
        })
    }

    impl Value {
        fn write(&self, out: &mut Vec<u8>) {
            match self {
                Self::Line(kind, line) => {
                    out.push(*kind);
                    out.extend_from_slice(line);
                    out.extend_from_slice(b"\r\n");
                }
                Self::Bulk(kind, None) | Self::Aggregate(kind, None) => {
                    out.push(*kind);
                    out.extend_from_slice(b"-1\r\n");
                }
                Self::Bulk(kind, Some(bytes)) => {
                    out.push(*kind);
                    out.extend_from_slice(format!("{}\r\n", bytes.len()).as_bytes());
                    out.extend_from_slice(bytes);
                    out.extend_from_slice(b"\r\n");
                }
                Self::Aggregate(kind, Some(items)) => {
                    let count = match kind {
                        b'%' => items.len() / 2,
                        b'|' => items.len().saturating_sub(1) / 2,
                        _ => items.len(),
                    };
                    out.push(*kind);
                    out.extend_from_slice(format!("{count}\r\n").as_bytes());
                    for item in items {
                        item.write(out);
                    }
                }
            }
        }
    }
}
